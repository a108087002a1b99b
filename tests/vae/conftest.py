import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """The VAE tests run tiny nets many times; on a shared 2-core machine, intra-op threads only wait on each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _float32_default():
    """float32 unless a test says otherwise, even if another test module changed the default dtype."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    yield
    torch.set_default_dtype(before)
