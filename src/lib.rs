//! ringloop (work in progress)
#![allow(dead_code)]
mod sys;
mod driver { pub(crate) mod user_data; pub(crate) mod lifecycle; }
mod time { pub(crate) mod wheel; }
