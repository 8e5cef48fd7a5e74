//! The certificate store: certificates the account holds, whatever their source.
//! `listing` answers the list views; uploads, details and deletion live beside it.

pub mod listing;

pub use listing::*;
