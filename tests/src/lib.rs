//! Harness for the end-to-end tests: the local stack's base URL, dev tokens, and
//! account seeding through the same store adapter the functions use.
