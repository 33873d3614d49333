"""Reading digits with a trained model: what MODEL is, the LiteRT engine, calibration and doubt, the
not-a-digit detector, ensemble rules, the Predictor."""
