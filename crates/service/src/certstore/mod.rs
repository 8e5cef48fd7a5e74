//! The certificate store: certificates the account holds, whatever their source.
//! `listing` answers the list views; uploads, details and deletion live beside it.

pub mod assets;
pub mod convert;
mod delete;
pub mod details;
pub mod list_certificates;
pub mod listing;
pub mod pca;
pub mod pca_list;
pub(crate) mod record;
pub mod upload;

pub use assets::*;
pub use listing::*;
pub use pca_list::*;
