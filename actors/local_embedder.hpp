#pragma once

// The built-in offline embedder: no model file, no network.

#include <cstddef>
#include <string_view>
#include <vector>

namespace chatagent::actors {

/// The dimension of `local_embed`'s vectors.
constexpr size_t local_embedding_dimension = 256;

/// Embeds `text` by feature hashing: its words (with their character trigrams, so that
/// "configure" and "configuration" meet) and its CJK characters and character pairs
/// (see `text_terms`), weighted by 1 + log(count), into a signed vector of
/// `local_embedding_dimension` floats, L2-normalized (all zeros for a text without terms).
/// The inner product of two such vectors is their cosine similarity.
std::vector<float> local_embed(std::string_view text);

} // namespace chatagent::actors
