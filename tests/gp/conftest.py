import pytest
import torch


@pytest.fixture(autouse=True)
def _float64():
    """GP closed forms are compared in double precision; the default is restored for other tests."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)
