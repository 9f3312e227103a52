"""One module per training method: state, config validation and the training step."""
