"""The customer's self-service page, as services: one-time codes and the limits around them,
sessions of confirmed numbers, and what a customer may see of their orders."""
