"""Questions as prompts, and answers read back: multiple-choice letters, or free text compared loosely."""

from __future__ import annotations

import re
import string

LETTERS = string.ascii_uppercase[:10]
INSTRUCTION = "Answer with the option's letter from the given choices directly."


def _label(letter: str) -> re.Pattern:
    """The option's own label, e.g. ``B.`` or ``(B)``, so options given as "B. red" are not labelled twice."""
    return re.compile(rf"^\s*\(?{letter}[.):]\s*")


def prompt(question: str, options: tuple[str, ...]) -> str:
    """The question, then for multiple choice the options labelled A, B, ... and the answer-format instruction."""
    if not options:
        return question
    lines = [f"{letter}. {_label(letter).sub('', option)}" for letter, option in zip(LETTERS, options, strict=False)]
    return "\n".join([question, *lines, INSTRUCTION])


def _loose(text: str) -> str:
    """Lower case, punctuation dropped, spaces collapsed."""
    return " ".join(text.lower().translate(str.maketrans("", "", string.punctuation)).split())


def gold_letter(answer: str, options: tuple[str, ...] | list[str]) -> str | None:
    """The letter ``answer`` names: a letter in range (any case), or the text of one option; None otherwise."""
    letters = LETTERS[: len(options)]
    if answer.strip().upper() in letters and len(answer.strip()) == 1:
        return answer.strip().upper()
    texts = [_loose(_label(letter).sub("", option)) for letter, option in zip(letters, options, strict=False)]
    return letters[texts.index(_loose(answer))] if _loose(answer) in texts else None


# "A" and "I" are also English words: as a choice they stand alone or carry a label's punctuation, never start
# a sentence ("A man walks ...", "I think ...").
WORD_LETTERS = "AI"
ANSWER_PHRASE = r"(?:answer|option|choice)\s*(?:is|would be|:|-)?\s*(?:option\s*|choice\s*)?"


def _letter_as_choice(letters: str) -> str:
    """A letter of ``letters`` standing as a choice: not inside a word, and (for A and I) not followed by a word."""
    return rf"(?<![A-Za-z'])([{letters}])(?![A-Za-z'])(?!\s+[a-z])"


def chosen_letter(prediction: str, options: tuple[str, ...]) -> str | None:
    """The option a prediction picks, in this order: an answer phrase ("the answer is B", "option (C)", "answer:
    D"); a label opening it ("B", "B.", "(B)", "B) ..."); the text of exactly one option inside it; the first
    option letter standing alone in it ("... so B."). A and I count only where they cannot be the words "a" and
    "I". None when none applies."""
    letters = LETTERS[: len(options)]
    if not letters:
        return None
    text = prediction.strip()
    phrase = re.search(rf"{ANSWER_PHRASE}[(\[]?{_letter_as_choice(letters)}", text, re.IGNORECASE)
    if phrase and phrase.group(1).isupper():
        return phrase.group(1)
    label = re.match(rf"^[(\[]?([{letters}])(?:[.):\]]|\s*$)", text)
    if label:
        return label.group(1)
    plain = "".join(letter for letter in letters if letter not in WORD_LETTERS)
    opening = re.match(rf"^([{plain}])(?![A-Za-z'])", text) if plain else None
    if opening:
        return opening.group(1)
    said = [
        letter
        for letter, option in zip(letters, options, strict=False)
        if f" {_loose(_label(letter).sub('', option))} " in f" {_loose(prediction)} "
    ]
    if len(said) == 1:
        return said[0]
    for alone in re.finditer(_letter_as_choice(letters), text):
        letter = alone.group(1)
        if letter not in WORD_LETTERS or re.match(r"\s*(?:[.,;:!?)\]]|$)", text[alone.end() :]):
            return letter
    return None


def is_correct(prediction: str, choice: str | None, answer: str | None, options: tuple[str, ...]) -> bool | None:
    """Multiple choice: the chosen letter is the answer's; free text: equal after :func:`_loose`. None: no answer."""
    if answer is None:
        return None
    return choice == answer if options else _loose(prediction) == _loose(answer)


def answer_key(prediction: str, choice: str | None) -> str:
    """What two predictions must share to agree: the chosen letter, else the loose text."""
    return choice if choice is not None else _loose(prediction)
