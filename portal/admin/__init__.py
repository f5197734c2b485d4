"""The administration area: accounts, never health records."""
