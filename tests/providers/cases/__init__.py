"""What each provider must make of its recorded upstream bytes: the ``ProviderCase`` lists the
shared contract (``tests/providers/test_contract.py``) runs on, one module per provider."""
