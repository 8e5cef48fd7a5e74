//! Action handlers, one module per capability. A handler binds its parameters, calls the
//! service and hands back the typed response; nothing else.

mod ca;
mod certstore;
mod cryptoops;
mod csr;
mod issuance;
mod orders;
mod orders_dv;
mod orders_instances;
mod revocation;
mod tags;
mod warehouses;

#[cfg(test)]
mod coverage_tests;

use crate::registry::Registry;

pub fn registry() -> Registry {
    let mut r = Registry::default();
    certstore::register(&mut r);
    cryptoops::register(&mut r);
    csr::register(&mut r);
    orders::register(&mut r);
    orders_dv::register(&mut r);
    orders_instances::register(&mut r);
    ca::register(&mut r);
    issuance::register(&mut r);
    revocation::register(&mut r);
    warehouses::register(&mut r);
    tags::register(&mut r);
    r
}
