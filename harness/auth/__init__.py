"""Identities and credentials: the test issuer, the token forge, auth probing."""
