//===- ModelConfig.cpp - LLaMA-family model configuration -----------------===//

#include "squant/Import/ModelConfig.h"
#include "squant/Runtime/GGUF.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

using namespace llvm;
using namespace mlir::squant;
using namespace mlir::squant::import;

static Error fail(StringRef file, const Twine &msg) {
  return createStringError(inconvertibleErrorCode(), file + ": " + msg);
}

Expected<LlamaConfig> LlamaConfig::fromJSON(StringRef text, StringRef file) {
  Expected<json::Value> parsed = json::parse(text);
  if (!parsed)
    return fail(file, "invalid JSON: " + toString(parsed.takeError()));
  const json::Object *obj = parsed->getAsObject();
  if (!obj)
    return fail(file, "expected a JSON object");

  if (auto type = obj->getString("model_type")) {
    if (*type != "llama" && *type != "mistral")
      return fail(file, "model_type '" + *type +
                            "' is not a LLaMA-family decoder (llama, "
                            "mistral)");
  }
  if (const json::Value *scaling = obj->get("rope_scaling"))
    if (scaling->kind() != json::Value::Null)
      return fail(file, "rope_scaling is not supported");
  for (StringRef biasKey : {"attention_bias", "mlp_bias"})
    if (auto b = obj->getBoolean(biasKey); b && *b)
      return fail(file, biasKey + Twine(" = true is not supported"));

  LlamaConfig c;
  auto getInt = [&](StringRef key, int64_t &out, bool required) -> Error {
    const json::Value *v = obj->get(key);
    if (!v || v->kind() == json::Value::Null) {
      if (required)
        return fail(file, "missing required integer '" + key + "'");
      return Error::success();
    }
    std::optional<int64_t> i = v->getAsInteger();
    if (!i)
      return fail(file, "'" + key + "' must be an integer");
    out = *i;
    return Error::success();
  };
  auto getNum = [&](StringRef key, double &out) -> Error {
    const json::Value *v = obj->get(key);
    if (!v || v->kind() == json::Value::Null)
      return Error::success();
    std::optional<double> d = v->getAsNumber();
    if (!d)
      return fail(file, "'" + key + "' must be a number");
    out = *d;
    return Error::success();
  };
  if (Error e = getInt("hidden_size", c.hiddenSize, true)) return std::move(e);
  if (Error e = getInt("intermediate_size", c.intermediateSize, true)) return std::move(e);
  if (Error e = getInt("num_hidden_layers", c.numLayers, true)) return std::move(e);
  if (Error e = getInt("num_attention_heads", c.numHeads, true)) return std::move(e);
  if (Error e = getInt("vocab_size", c.vocabSize, true)) return std::move(e);
  c.numKVHeads = c.numHeads;
  if (Error e = getInt("num_key_value_heads", c.numKVHeads, false)) return std::move(e);
  c.headDim = c.numHeads > 0 ? c.hiddenSize / c.numHeads : 0;
  if (Error e = getInt("head_dim", c.headDim, false)) return std::move(e);
  if (Error e = getInt("max_position_embeddings", c.maxPositions, false)) return std::move(e);
  if (Error e = getNum("rope_theta", c.ropeTheta)) return std::move(e);
  if (Error e = getNum("rms_norm_eps", c.rmsNormEps)) return std::move(e);
  if (const json::Value *v = obj->get("tie_word_embeddings")) {
    std::optional<bool> b = v->getAsBoolean();
    if (!b)
      return fail(file, "'tie_word_embeddings' must be a boolean");
    c.tieWordEmbeddings = *b;
  }
  if (Error e = getInt("bos_token_id", c.bosTokenId, false)) return std::move(e);
  if (const json::Value *v = obj->get("eos_token_id")) {
    if (auto i = v->getAsInteger())
      c.eosTokenIds.push_back(*i);
    else if (const json::Array *a = v->getAsArray())
      for (const json::Value &e : *a)
        if (auto i = e.getAsInteger())
          c.eosTokenIds.push_back(*i);
  }
  if (Error e = c.validate(file))
    return std::move(e);
  return c;
}

Expected<LlamaConfig> LlamaConfig::fromGGUF(const runtime::GGUFFile &f) {
  StringRef file = f.path();
  std::optional<std::string> arch = f.getString("general.architecture");
  if (!arch)
    return fail(file, "missing metadata 'general.architecture'");
  if (*arch != "llama")
    return fail(file, "general.architecture '" + *arch +
                          "' is not a LLaMA-family decoder (llama)");
  LlamaConfig c;
  c.ropeStyle = RopeStyle::Interleaved;
  auto need = [&](StringRef key, int64_t &out) -> Error {
    std::optional<int64_t> v = f.getInt(("llama." + key).str());
    if (!v)
      return fail(file, "missing integer metadata 'llama." + key + "'");
    out = *v;
    return Error::success();
  };
  if (Error e = need("embedding_length", c.hiddenSize)) return std::move(e);
  if (Error e = need("feed_forward_length", c.intermediateSize)) return std::move(e);
  if (Error e = need("block_count", c.numLayers)) return std::move(e);
  if (Error e = need("attention.head_count", c.numHeads)) return std::move(e);
  c.numKVHeads = c.numHeads;
  if (auto v = f.getInt("llama.attention.head_count_kv")) c.numKVHeads = *v;
  c.headDim = c.numHeads > 0 ? c.hiddenSize / c.numHeads : 0;
  if (auto v = f.getInt("llama.attention.key_length")) c.headDim = *v;
  if (auto v = f.getInt("llama.context_length")) c.maxPositions = *v;
  if (auto v = f.getFloat("llama.rope.freq_base")) c.ropeTheta = *v;
  if (auto v = f.getFloat("llama.attention.layer_norm_rms_epsilon")) c.rmsNormEps = *v;
  if (f.get("llama.rope.scaling.type") &&
      f.getString("llama.rope.scaling.type").value_or("none") != "none")
    return fail(file, "rope scaling is not supported");
  if (auto v = f.getInt("llama.vocab_size")) {
    c.vocabSize = *v;
  } else if (const auto *tokens = f.getStrings("tokenizer.ggml.tokens")) {
    c.vocabSize = int64_t(tokens->size());
  } else if (const runtime::GGUFTensor *t = f.lookup("token_embd.weight")) {
    c.vocabSize = t->shape.front();
  }
  c.tieWordEmbeddings = f.lookup("output.weight") == nullptr;
  if (auto v = f.getInt("tokenizer.ggml.bos_token_id")) c.bosTokenId = *v;
  if (auto v = f.getInt("tokenizer.ggml.eos_token_id")) c.eosTokenIds.push_back(*v);
  if (auto v = f.getInt("tokenizer.ggml.eot_token_id"))
    if (c.eosTokenIds.empty() || c.eosTokenIds[0] != *v)
      c.eosTokenIds.push_back(*v);
  if (Error e = c.validate(file))
    return std::move(e);
  return c;
}

Error LlamaConfig::validate(StringRef source) const {
  auto positive = [&](StringRef name, int64_t v) -> Error {
    if (v <= 0 || v > (int64_t(1) << 31))
      return fail(source, formatv("{0} must be a positive integer below "
                                  "2^31, got {1}",
                                  name, v));
    return Error::success();
  };
  if (Error e = positive("hidden_size", hiddenSize)) return e;
  if (Error e = positive("intermediate_size", intermediateSize)) return e;
  if (Error e = positive("num_hidden_layers", numLayers)) return e;
  if (Error e = positive("num_attention_heads", numHeads)) return e;
  if (Error e = positive("num_key_value_heads", numKVHeads)) return e;
  if (Error e = positive("head_dim", headDim)) return e;
  if (Error e = positive("vocab_size", vocabSize)) return e;
  if (Error e = positive("max_position_embeddings", maxPositions)) return e;
  if (numHeads % numKVHeads != 0)
    return fail(source, formatv("num_attention_heads ({0}) must be a multiple "
                                "of num_key_value_heads ({1})",
                                numHeads, numKVHeads));
  if (headDim % 2 != 0)
    return fail(source, formatv("head_dim ({0}) must be even for rotary "
                                "embeddings",
                                headDim));
  if (!(rmsNormEps > 0) || !(ropeTheta > 0))
    return fail(source, "rms_norm_eps and rope_theta must be positive");
  return Error::success();
}
