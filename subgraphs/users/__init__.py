"""Users: identity, authentication, JWT issuing and the JWKS."""
