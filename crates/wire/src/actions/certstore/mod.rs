//! Handlers of the certificate store actions, split like the service module.

mod assets;
mod details;
pub(crate) mod listing;
mod upload;

use crate::registry::Registry;

pub fn register(r: &mut Registry) {
    listing::register(r);
    upload::register(r);
    details::register(r);
    assets::register(r);
}
