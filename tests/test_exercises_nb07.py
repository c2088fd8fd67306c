"""The numbers 07_cross_modal's exercise 3 quotes: chance on the check's gallery and the level of the reference
(the solution and wrong answers of all three checks are tested in tests/test_crossmodal.py)."""
import torch

from helpers import captions as C
from helpers.crossmodal import BagOfWords
from helpers.exercises import nb07_cross_modal as nb07


def test_exercise3_chance_is_one_in_twenty():
    X, rows = nb07.fresh_images()
    per_combo = {c: sum(C.combo(r) == c for r in rows) for c in C.UNSEEN}
    assert len(X) == 200 and min(per_combo.values()) >= 10          # 10 queries' worth of each held-out combination
    # a random ranking puts each gallery image in the top 10 with probability 10 / 200, so recall@10 is 0.05
    assert 10 / len(X) == 0.05


def test_the_reference_bag_of_words_reaches_good():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                                          # as in the notebook: the same number
    try:
        score = nb07.check_text_encoder(lambda vocab_size, dim: BagOfWords(vocab_size, dim))
    finally:
        torch.set_num_threads(threads)
    assert nb07.THRESHOLDS["good"] <= score < nb07.THRESHOLDS["excellent"], "the bag of words reaches 'good'"
