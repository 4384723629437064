"""Bad request tensors get a clear error from the server, and other requests still succeed."""

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

pytestmark = pytest.mark.integration


def text_inputs(module, subjects, descriptions):
    inputs = []
    for name, values in (("SUBJECT", subjects), ("DESCRIPTION", descriptions)):
        tensor = module.InferInput(name, [len(values), 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[value] for value in values], dtype=object))
        inputs.append(tensor)
    return inputs


@pytest.mark.parametrize("module", [grpcclient, httpclient], ids=["grpc", "http"])
def test_empty_ticket_is_rejected_with_a_message(tiny_server, module):
    url = tiny_server.grpc_url if module is grpcclient else tiny_server.http_url
    client = module.InferenceServerClient(url)
    with pytest.raises(InferenceServerException, match="SUBJECT and DESCRIPTION are all empty"):
        client.infer("ticket_classifier", text_inputs(module, [b"ok", b""], [b"fine", b"  "]))
    result = client.infer("ticket_classifier", text_inputs(module, [b"VPN"], [b"down"]))
    assert result.as_numpy("CATEGORY").shape == (1, 1)


def test_invalid_utf8_is_rejected_with_a_message(tiny_server):
    client = grpcclient.InferenceServerClient(tiny_server.grpc_url)
    with pytest.raises(InferenceServerException, match="DESCRIPTION is not valid UTF-8"):
        client.infer("ticket_classifier", text_inputs(grpcclient, [b"VPN"], [b"\xff\xfe broken"]))


def test_missing_input_is_rejected(tiny_server):
    client = grpcclient.InferenceServerClient(tiny_server.grpc_url)
    only_subject = text_inputs(grpcclient, [b"VPN"], [b"x"])[:1]
    with pytest.raises(InferenceServerException, match="DESCRIPTION"):
        client.infer("ticket_classifier", only_subject)


def test_wrong_datatype_is_rejected(tiny_server):
    client = grpcclient.InferenceServerClient(tiny_server.grpc_url)
    numbers = []
    for name in ("SUBJECT", "DESCRIPTION"):
        tensor = grpcclient.InferInput(name, [1, 1], "INT64")
        tensor.set_data_from_numpy(np.array([[1]], dtype=np.int64))
        numbers.append(tensor)
    with pytest.raises(InferenceServerException, match="(?i)data.?type|expected"):
        client.infer("ticket_classifier", numbers)


def test_batch_over_the_maximum_is_rejected_by_triton(tiny_server):
    client = grpcclient.InferenceServerClient(tiny_server.grpc_url)
    subjects = [b"VPN"] * 65
    with pytest.raises(InferenceServerException, match="(?i)batch.?size"):
        client.infer("ticket_classifier", text_inputs(grpcclient, subjects, subjects))
