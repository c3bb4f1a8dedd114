//! Fake services (written next).
