pub mod config;
pub mod rollback;
pub mod secure_config;
