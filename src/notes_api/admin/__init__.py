"""User and role administration (role `admin`)."""
