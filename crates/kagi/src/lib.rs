//! Kagi wiring.
