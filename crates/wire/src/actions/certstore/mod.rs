//! Handlers of the certificate store actions, split like the service module.

mod assets;
pub(crate) mod listing;

use crate::registry::Registry;

pub fn register(r: &mut Registry) {
    listing::register(r);
    assets::register(r);
}
