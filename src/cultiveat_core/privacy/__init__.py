"""Privacy: subject access, erasure, retention and field encryption (GDPR/CCPA, issue 5)."""
