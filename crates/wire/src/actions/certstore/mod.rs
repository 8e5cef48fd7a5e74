//! Handlers of the certificate store actions, split like the service module.

mod listing;

use crate::registry::Registry;

pub fn register(r: &mut Registry) {
    listing::register(r);
}
