pub mod config;
pub mod permissions;
pub mod rollback;
pub mod secure_config;
pub mod serve;
pub mod token;
pub mod user;
