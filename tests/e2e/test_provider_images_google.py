"""`hermetic router` serving POST /v1/images/generations from gemini/ and vertex_ai/
deployments with model_info.mode image_generation, as LiteLLM does (issue 49): Imagen through
:predict and a Gemini image model through generateContent, against tests/fakes/fake_gemini.py
and tests/fakes/fake_vertex.py (which check the requests as Google does). The client gets
OpenAI's {"data": [{"b64_json"}]}; the spend ledger gets LiteLLM's per-image price, or the
Gemini model's tokens; an answer without an image and Google's errors reach the client as
OpenAI's errors."""
import base64
import json

import pytest

from fakes.fake_gemini import FakeGemini, google_error, image_bytes, images
from fakes.fake_openai_media import FakeOpenAIMedia
from fakes.fake_vertex import FakeVertex, service_account
from router_harness import (  # noqa: F401 (fake, start_router are fixtures)
    deployment, fake, router_config, start_router,
)

KEY = "AIza-e2e-images-SECRET-51c7"
KEY_ENV = "E2E_GEMINI_IMAGES_KEY"
IMAGEN = "imagen-4.0-generate-001"
GEMINI_IMAGE = "gemini-2.5-flash-image"
PRICE = 0.04  # model_info.output_cost_per_image, as in LiteLLM's cost map for imagen-4.0


@pytest.fixture
def gemini():
    with FakeGemini(api_key=KEY) as g:
        yield g


def gemini_image(name, g, model, **model_info):
    return {"model_name": name,
            "litellm_params": {"model": f"gemini/{model}", "api_base": g.url,
                               "api_key": f"os.environ/{KEY_ENV}"},
            "model_info": {"mode": "image_generation", **model_info}}


def start(start_router, fake, models, **sections):
    return start_router(router_config(fake, models, **sections), env={KEY_ENV: KEY})


def rows_of(r, group, count=1):
    r.wait_spend_rows(count)
    return [x for x in r.spend_rows() if x["model_group"] == group]


def decoded(doc):
    return [base64.b64decode(d["b64_json"]) for d in doc["data"]]


@pytest.mark.smoke
def test_imagen_is_called_with_predict_and_billed_per_image(gemini, fake, start_router):
    gemini.script(images())
    r = start(start_router, fake, [gemini_image("imagen", gemini, IMAGEN,
                                                output_cost_per_image=PRICE)])
    reply = r.post("/v1/images/generations", {"model": "imagen", "prompt": "a sea otter",
                                              "n": 2, "size": "1792x1024"})
    assert reply.status == 200, reply.text
    doc = reply.json()
    assert isinstance(doc["created"], int)
    assert decoded(doc) == [image_bytes(IMAGEN, "a sea otter", i) for i in range(2)]
    [req] = gemini.requests
    assert req["path"] == f"/v1beta/models/{IMAGEN}:predict"
    assert req["headers"]["x-goog-api-key"] == KEY
    assert req["body"] == {"instances": [{"prompt": "a sea otter"}],
                           "parameters": {"sampleCount": 2, "aspectRatio": "16:9"}}
    [row] = rows_of(r, "imagen")
    assert row["cost_usd"] == pytest.approx(2 * PRICE, abs=1e-12), row
    assert row["cost_source"] == "model_info" and row["estimated"] == 0, row


def test_a_gemini_image_model_is_called_with_generate_content(gemini, fake, start_router):
    gemini.script(images(text="Here is your banana."))
    r = start(start_router, fake, [gemini_image("nano", gemini, GEMINI_IMAGE,
                                                output_cost_per_image=0.039)])
    reply = r.post("/v1/images/generations", {"model": "nano", "prompt": "a banana",
                                              "size": "1024x1792"})
    assert reply.status == 200, reply.text
    assert decoded(reply.json()) == [image_bytes(GEMINI_IMAGE, "a banana", 0)]
    [req] = gemini.requests
    assert req["path"] == f"/v1beta/models/{GEMINI_IMAGE}:generateContent"
    assert req["body"] == {"contents": [{"role": "user", "parts": [{"text": "a banana"}]}],
                           "generationConfig": {"responseModalities": ["IMAGE"],
                                                "imageConfig": {"aspectRatio": "9:16"}}}
    [row] = rows_of(r, "nano")
    assert row["cost_usd"] == pytest.approx(0.039, abs=1e-12), row
    assert row["cost_source"] == "model_info", row


def test_a_gemini_image_model_without_a_per_image_price_bills_its_tokens(gemini, fake,
                                                                          start_router):
    gemini.script(images())
    r = start(start_router, fake, [gemini_image("nano", gemini, GEMINI_IMAGE,
                                                input_cost_per_token=3e-7,
                                                output_cost_per_token=3e-5)])
    reply = r.post("/v1/images/generations", {"model": "nano", "prompt": "a lighthouse"})
    assert reply.status == 200, reply.text
    usage = reply.json()["usage"]
    assert usage["output_tokens"] == 1290 and usage["input_tokens"] > 0, usage
    [row] = rows_of(r, "nano")
    assert row["output_tokens"] == 1290 and row["input_tokens"] == usage["input_tokens"], row
    want = usage["input_tokens"] * 3e-7 + 1290 * 3e-5
    assert row["cost_usd"] == pytest.approx(want, abs=1e-12), row
    assert row["estimated"] == 0, row


@pytest.mark.parametrize("model", [IMAGEN, GEMINI_IMAGE])
def test_images_the_safety_filters_took_are_a_content_policy_error(model, gemini, fake,
                                                                   start_router):
    gemini.script(images(filtered=1))
    r = start(start_router, fake, [gemini_image("img", gemini, model,
                                                output_cost_per_image=PRICE)])
    reply = r.post("/v1/images/generations", {"model": "img", "prompt": "something",
                                              "n": 1})
    assert reply.status == 400, reply.text
    err = reply.error()
    assert err["type"] == "content_policy_violation", err
    assert "no image" in err["message"], err
    assert len(gemini.requests) == 1
    # Google does not charge for the images its filters take
    rows = rows_of(r, "img")
    assert sum(x["cost_usd"] for x in rows) == 0, rows


def test_googles_refusal_reaches_the_client_as_openais_400(gemini, fake, start_router):
    r = start(start_router, fake, [gemini_image("imagen", gemini, IMAGEN)])
    reply = r.post("/v1/images/generations", {"model": "imagen", "prompt": "p", "n": 5})
    assert reply.status == 400, reply.text
    err = reply.error()
    assert "between 1 and 4" in err["message"], err
    assert err["type"] == "invalid_request_error", err
    [req] = gemini.requests
    assert req["status"] == 400


def test_a_quota_error_falls_back_to_the_next_group(gemini, fake, start_router):
    gemini.script(google_error(429))
    with FakeOpenAIMedia(api_key="sk-media-e2e") as media:
        backup = {"model_name": "backup",
                  "litellm_params": {"model": "openai/dall-e-3", "api_base": media.url,
                                     "api_key": "sk-media-e2e"},
                  "model_info": {"mode": "image_generation"}}
        r = start(start_router, fake, [gemini_image("imagen", gemini, IMAGEN), backup],
                  litellm_settings={"fallbacks": [{"imagen": ["backup"]}]})
        reply = r.post("/v1/images/generations", {"model": "imagen", "prompt": "p"})
        assert reply.status == 200, reply.text
        assert reply.headers.get("x-litellm-attempted-fallbacks") == "1", reply.headers
        assert [q["path"] for q in media.requests] == ["/v1/images/generations"]
    assert len(gemini.requests) == 1 and gemini.requests[0]["status"] == 429


def test_a_chat_model_asked_for_an_image_is_refused_by_google(gemini, fake, start_router):
    r = start(start_router, fake, [gemini_image("flash", gemini, "gemini-2.5-flash")])
    reply = r.post("/v1/images/generations", {"model": "flash", "prompt": "p"})
    assert reply.status == 400, reply.text
    assert "response modalities" in reply.error()["message"]


# ---------------------------------------------------------------------------
# Vertex AI: the same two methods under the project's publishers/google URL, with the
# service account's token
# ---------------------------------------------------------------------------

@pytest.fixture
def vertex():
    with FakeVertex() as v:
        yield v


def vertex_image(name, v, model, key_path, **model_info):
    return {"model_name": name,
            "litellm_params": {"model": f"vertex_ai/{model}", "api_base": v.url,
                               "vertex_project": v.project, "vertex_location": v.location,
                               "vertex_credentials": str(key_path)},
            "model_info": {"mode": "image_generation", **model_info}}


@pytest.fixture
def key_path(vertex, tmp_path):
    info, key = service_account(token_uri=vertex.token_url)
    vertex.add_account(info, key)
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(info))
    return path


@pytest.mark.parametrize("model,rpc", [("imagen-3.0-generate-002", "predict"),
                                       ("gemini-2.5-flash-image", "generateContent")])
def test_vertex_images_go_to_the_publisher_url_with_the_token(model, rpc, vertex, key_path,
                                                              fake, start_router):
    vertex.gemini.script(images())
    r = start_router(router_config(fake, [vertex_image("vimg", vertex, model, key_path,
                                                       output_cost_per_image=PRICE)]))
    reply = r.post("/v1/images/generations", {"model": "vimg", "prompt": "a fjord"})
    assert reply.status == 200, reply.text
    assert decoded(reply.json()) == [image_bytes(model, "a fjord", 0)]
    [req] = vertex.requests
    assert req["path"] == (f"/v1/projects/{vertex.project}/locations/{vertex.location}/"
                           f"publishers/google/models/{model}:{rpc}")
    assert req["headers"]["authorization"].startswith("Bearer ya29.")
    assert req["status"] == 200
    [row] = rows_of(r, "vimg")
    assert row["cost_usd"] == pytest.approx(PRICE, abs=1e-12), row
    assert row["cost_source"] == "model_info" and row["estimated"] == 0, row
