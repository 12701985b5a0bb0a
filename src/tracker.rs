//! Event tracking: a pure state machine over scored samples (being written).
