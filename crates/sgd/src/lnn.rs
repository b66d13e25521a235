//! Deep linear networks (Lakkapragada 2024): placeholder until the `lnn` preset lands.
