//! `SeededRng`: the ChaCha8 RNG of a core state type, created from the
//! caller's seed and hashable, so a state that holds one stays
//! `Clone + Eq + Hash` for a model checker to store. It owns no decision;
//! it only wraps the generator.

use std::hash::{Hash, Hasher};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A seeded ChaCha8 RNG. `ChaCha8Rng` is `Clone + Eq` (equal when seed,
/// stream and word position are) but not `Hash`; this hashes exactly what
/// its `Eq` compares, so equal states hash alike.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SeededRng(pub(crate) ChaCha8Rng);

impl SeededRng {
    /// The generator seeded with `seed`.
    pub(crate) fn from_seed(seed: u64) -> Self {
        SeededRng(ChaCha8Rng::seed_from_u64(seed))
    }
}

impl Hash for SeededRng {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.get_seed().hash(state);
        self.0.get_stream().hash(state);
        self.0.get_word_pos().hash(state);
    }
}
