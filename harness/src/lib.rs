//! poolstorm: the load driver and scenario harness (built in the following issues).
