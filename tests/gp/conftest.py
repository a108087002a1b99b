import pytest
import torch


@pytest.fixture
def torch_dtype():
    """GP closed forms are compared in double precision."""
    return torch.float64
