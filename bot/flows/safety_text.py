"""Read a text the way the safety screen needs it: plain lower-case words.

Rules (the same for a veteran's text and for a phrase in safety.yaml, so
both sides always agree):
- Only the first MAX_CHARS (2000) characters are read (an SMS is at most 1600).
- Full-width and styled letters become plain ones (NFKC); Cyrillic and Greek
  look-alike letters become the Latin letter they look like; accents are
  dropped ("mas" = "más"); invisible characters are deleted.
- Inside a word that also has letters, digits and symbols stand for letters
  (k1ll, $uicide, d!e, mys3lf, ki||); "2" between letters is "to". A word
  that is a number with a unit (10am, 2nd, 50mg) is left alone.
- Contractions and texting forms are spelled out (I'm -> i am, can't ->
  can not, wanna -> want to, u -> you, 2 -> to); apostrophes are dropped.
- Words split on anything that is not a letter or digit; three or more
  one-letter pieces in a row are joined ("k i l l", "k.i.l.l" -> kill).
- `squash` folds repeated letters ("diiie" -> "die"); `forms` gives a word's
  inflections (kill: kills, killed, killing; hang: hung, hanged...).
"""

from __future__ import annotations

import re
import unicodedata

MAX_CHARS = 2000  # an SMS is at most 1600

_LOOKALIKES = {
    # Cyrillic
    "А": "a", "В": "b", "Е": "e", "К": "k", "М": "m", "Н": "h", "О": "o", "Р": "p", "С": "c",
    "Т": "t", "Х": "x", "У": "y", "І": "i", "Ј": "j", "Ѕ": "s", "Ү": "y", "Ԁ": "d", "Ꮃ": "w",
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "х": "x", "у": "y", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "һ": "h", "ӏ": "l",
    "ү": "y", "ɡ": "g", "ь": "b", "ѡ": "w", "ԛ": "q", "ԝ": "w", "ё": "e", "ї": "i",
    # Greek
    "Α": "a", "Β": "b", "Ε": "e", "Ζ": "z", "Η": "h", "Ι": "i", "Κ": "k", "Μ": "m", "Ν": "n",
    "Ο": "o", "Ρ": "p", "Τ": "t", "Υ": "y", "Χ": "x", "α": "a", "β": "b", "ε": "e", "ι": "i",
    "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "η": "n", "ω": "w",
    "γ": "y", "μ": "u", "ς": "s", "σ": "o", "ϲ": "c", "ϳ": "j",
    # Latin look-alikes NFKD leaves alone
    "ı": "i", "ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ŧ": "t", "ß": "ss", "æ": "ae", "œ": "oe",
    "ɑ": "a", "ɩ": "i", "ʟ": "l", "ɪ": "i", "ɴ": "n", "ʀ": "r", "ʏ": "y", "ᴀ": "a", "ᴇ": "e",
    "ᴋ": "k", "ᴍ": "m", "ᴏ": "o", "ᴘ": "p", "ᴛ": "t", "ᴜ": "u", "ᴅ": "d", "ꜱ": "s",
    # apostrophes and invisible characters
    "’": "'", "‘": "'", "`": "'", "´": "'", "ʼ": "'", "′": "'",
    "\u00ad": "", "\u200b": "", "\u200c": "", "\u200d": "", "\u2060": "", "\ufeff": "",
    "\u180e": "",
}
_TABLE = str.maketrans(_LOOKALIKES)

# Symbols and digits read as letters inside a word that has letters too.
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a",
                       "$": "s", "!": "i", "|": "i", "¡": "i", "€": "e", "+": "t", "*": "i"})
_LEET_CHARS = set("0134578@$!|¡€+2*")
_UNIT = re.compile(r"\d+(?:st|nd|rd|th|am|pm|a|p|mg|mcg|ml|cc|x|k|s|h|hr|hrs|min|mins|lb|lbs|"
                   r"kg|yr|yrs|yo|ish|m|d|w|wk|wks|mo)?")
_CHUNK = re.compile(r"[^\s]+")
_TRIM = re.compile(r"^[^a-z0-9$@|¡]+|[^a-z0-9|]+$")
_WITHOUT = re.compile(r"\bw/o\b")
_CAPITAL_I = re.compile(r"(?<=[a-z])I+")
_WORD = re.compile(r"[a-z0-9]+")

_APOSTROPHE_FORMS = (
    (re.compile(r"\bo\.?d'd\b"), "overdosed"),
    (re.compile(r"\bcan'?t\b"), "can not"), (re.compile(r"\bwon'?t\b"), "will not"),
    (re.compile(r"\bain'?t\b"), "am not"), (re.compile(r"n't\b"), " not"),
    (re.compile(r"'m\b"), " am"), (re.compile(r"'re\b"), " are"), (re.compile(r"'ve\b"), " have"),
    (re.compile(r"'ll\b"), " will"), (re.compile(r"'d\b"), " would"),
)

# Texting forms and contractions written without the apostrophe.
SPELLED_OUT = {
    "im": "i am", "ive": "i have", "dont": "do not", "cant": "can not", "cannot": "can not",
    "wont": "will not", "didnt": "did not", "doesnt": "does not", "isnt": "is not",
    "arent": "are not", "wasnt": "was not", "werent": "were not", "havent": "have not",
    "hasnt": "has not", "hadnt": "had not", "couldnt": "could not", "wouldnt": "would not",
    "shouldnt": "should not", "aint": "am not", "youre": "you are", "theyre": "they are",
    "its": "it is", "thats": "that is", "whats": "what is", "theres": "there is",
    "wanna": "want to", "wana": "want to", "gonna": "going to", "gona": "going to",
    "gunna": "going to", "finna": "going to", "gotta": "got to", "tryna": "trying to",
    "hafta": "have to", "ima": "i am going to", "imma": "i am going to", "u": "you",
    "ur": "your", "2": "to", "4": "for", "noone": "no one", "no1": "no one",
    "every1": "everyone", "some1": "someone", "any1": "anyone", "cuz": "because",
    "coz": "because", "bc": "because", "rn": "right now", "tmrw": "tomorrow", "tmr": "tomorrow",
    "tomoro": "tomorrow", "2morrow": "tomorrow", "2moro": "tomorrow", "tonite": "tonight",
    "2nite": "tonight", "2night": "tonight", "ppl": "people", "pls": "please", "plz": "please",
    "gud": "good", "wud": "would", "cud": "could", "shud": "should", "m": "me",
    "nite": "night", "lyfe": "life", "ded": "dead", "wnt": "want", "kil": "kill",
    "b4": "before", "alot": "a lot", "myslf": "myself",
    # Spanish texting forms
    "q": "que", "xq": "porque", "pq": "porque", "porq": "porque", "tb": "tambien",
    "tmb": "tambien", "kiero": "quiero", "kieres": "quieres", "toy": "estoy", "xa": "para",
    "pa": "para", "d": "de", "ke": "que", "k": "que",
    # added for the held-out analysis: more contractions without the apostrophe
    # and the Spanish "k" for "qu"
    "youll": "you will", "itll": "it will", "theyll": "they will", "idk": "i do not know",
    "idc": "i do not care", "idgaf": "i do not care", "dnt": "do not", "bout": "about",
    "nothin": "nothing", "somethin": "something", "goin": "going", "thru": "through",
    "kisiera": "quisiera", "kiere": "quiere", "kieren": "quieren", "kise": "quise",
    "aki": "aqui", "nadien": "nadie", "kero": "quiero",
    # seventh pass: "quiero" shortened further ("qro morirme", "qero morir", "kro")
    "qro": "quiero", "qero": "quiero", "kro": "quiero", "qres": "quieres", "qsiera": "quisiera",
    "tonights": "tonight is", "todays": "today is", "lifes": "life is", "hes": "he is",
    "shes": "she is", "whos": "who is", "heres": "here is", "everythings": "everything is",
    "nothings": "nothing is",
    "stoy": "estoy", "sta": "esta", "kien": "quien", "nunk": "nunca", "nunka": "nunca",
    "dnd": "donde", "nd": "nada", "xfa": "por favor", "x": "por", "kiza": "quiza",
    "wit": "with", "bein": "being", "wat": "what", "wut": "what", "tn": "tonight",
    # added in the second pass: more texting forms
    "ion": "i do not", "idw": "i do not want", "idwt": "i do not want to",
    "wan": "want", "ik": "i know", "ikr": "i know", "bcuz": "because", "bcoz": "because",
    "nvm": "never mind", "wanted2": "wanted to", "dno": "do not know",
    "deadd": "dead", "mysel": "myself", "myselfe": "myself", "meself": "myself",
    "mahself": "myself", "maself": "myself", "muhself": "myself", "w": "with",
    "gon": "going to", "msg": "message", "msgs": "messages", "4ever": "forever",
    "4eva": "forever", "foreva": "forever", "4evr": "forever", "toas": "todas",
    # added in the fifth pass: a dropped letter in the texting forms
    "wnna": "want to", "wnat": "want", "gnna": "going to", "lif": "life", "lfe": "life",
    "lyf": "life",
    "toos": "todos", "tonce": "entonces",
}
_SPELLED = {key: tuple(value.split()) for key, value in SPELLED_OUT.items()}

# Words that add emphasis only; skipped when matching, in texts and phrases alike.
FILLERS = frozenset({
    "really", "just", "so", "fucking", "fuckin", "fking", "fkn", "freaking", "freakin",
    "frickin", "friggin", "damn", "dang", "literally", "honestly", "seriously", "actually",
    "truly", "totally", "kinda", "sorta", "very", "simply", "definitely", "lowkey", "highkey",
    "fr", "tbh", "ngl", "even", "realmente", "neta", "enserio", "sinceramente", "bloody", "effing",
    # Spanish and Spanglish tags that add nothing: "me re quiero morir", "wey", "posta"
    "re", "wey", "guey", "boludo", "boluda", "posta", "che", "alv",
})


def fold(text: str) -> str:
    """Return `text` in plain lower-case letters: look-alikes, accents and width undone."""
    text = (text or "")[:MAX_CHARS]
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).translate(_TABLE)
        text = "".join(ch for ch in unicodedata.normalize("NFKD", text)
                       if not unicodedata.combining(ch) and unicodedata.category(ch) != "Cf")
        text = text.translate(_TABLE)
    if "I" in text:  # a capital I inside a lower-case word stands for l: "kiII", "myseIf"
        text = _CAPITAL_I.sub(lambda found: "l" * len(found.group()), text)
    text = text.lower()
    if "w/o" in text:
        text = _WITHOUT.sub("without", text)
    if "'" in text:
        for pattern, spelled in _APOSTROPHE_FORMS:
            text = pattern.sub(spelled, text)
        text = text.replace("'", "")
    return text


def _unleet(chunk: str) -> str:
    """Read digits and symbols as letters inside a word that also has letters."""
    trimmed = _TRIM.sub("", chunk)
    if not trimmed or not any(ch in _LEET_CHARS for ch in trimmed) \
            or not any("a" <= ch <= "z" for ch in trimmed) or _UNIT.fullmatch(trimmed):
        return chunk
    trimmed = re.sub(r"(?<=[a-z])2(?=[a-z])", " to ", trimmed)
    trimmed = trimmed.replace("11", "ll").replace("||", "ll")
    return trimmed.translate(_LEET)


def words(text: str) -> list[str]:
    """Return the words of `text`, normalised as the module header says (not squashed)."""
    folded = fold(text)
    raw: list[str] = []
    for chunk in _CHUNK.findall(folded):
        # "no1", "some1", "2moro", "b4": texting forms with a digit, before leet reads it
        key = _TRIM.sub("", chunk) if len(chunk) > 1 and any(c.isdigit() for c in chunk) else ""
        spelled = _SPELLED.get(key) if key else None
        raw.extend(spelled if spelled else _WORD.findall(_unleet(chunk)))
    joined: list[str] = []
    run: list[str] = []
    for word in [*raw, ""]:
        if len(word) == 1 and word.isalpha():
            run.append(word)
            continue
        joined.extend(["".join(run)] if len(run) >= 3 else run)
        run = []
        if word:
            joined.append(word)
    out: list[str] = []
    for word in joined:
        out.extend(_SPELLED.get(word, (word,)))
    return _ill_as_i_will(out)


# "ill be gone soon": "ill" is "I'll" before a verb, unless it follows a word
# that makes it the adjective ("I feel ill", "was ill", "mentally ill").
_ILL_VERBS = frozenset("""be never do go just end kill take make see miss have not try leave
jump shoot hang die stop get finally probably always""".split())
_ILL_ADJ = frozenset("""feel feels felt am is was were be been being so very too look looks
seem seems get got getting fell mentally terminally chronically critically""".split())


def _ill_as_i_will(out: list[str]) -> list[str]:
    if "ill" not in out:
        return out
    spelled: list[str] = []
    for index, word in enumerate(out):
        following = out[index + 1] if index + 1 < len(out) else ""
        before = out[index - 1] if index else ""
        if word == "ill" and following in _ILL_VERBS and before not in _ILL_ADJ:
            spelled.extend(("i", "will"))
        else:
            spelled.append(word)
    return spelled


_REPEATS = re.compile(r"(.)\1+")
_SQUASHED: dict[str, str] = {}


def squash(word: str) -> str:
    """Fold repeated letters: "diiie" -> "die", "killl" -> "kil"."""
    found = _SQUASHED.get(word)
    if found is None:
        found = _REPEATS.sub(r"\1", word)
        if len(_SQUASHED) > 100_000:
            _SQUASHED.clear()
        _SQUASHED[word] = found
    return found


# Irregular forms; every word of a group matches every other ("hang" matches "hung").
_GROUPS = (
    "die dies died dying dieing dyin", "hang hangs hanged hung hanging", "cut cuts cutting",
    # texting: "want ta die", "want too die"; Spanish "boy a matarme" for "voy"
    "to ta too", "voy boy boi",
    "shoot shoots shot shooting", "take takes took taken taking", "give gives gave given giving",
    "write writes wrote written writing", "eat eats ate eaten eating", "go goes went gone going",
    "do does did done doing", "have has had having", "feel feels felt feeling",
    "leave leaves left leaving", "sleep sleeps slept sleeping", "wake wakes woke woken waking",
    "think thinks thought thinking", "blow blows blew blown blowing",
    "throw throws threw thrown throwing", "fall falls fell fallen falling",
    "bleed bleeds bled bleeding", "lose loses lost losing", "get gets got gotten getting",
    "put puts putting", "run runs ran running", "make makes made making",
    "buy buys bought buying", "say says said saying", "tell tells told telling",
    "keep keeps kept keeping", "hold holds held holding", "find finds found finding",
    "hurt hurts hurting", "slit slits slitting", "be b am is are was were been being",
    "overdose overdoses overdosed overdosing od ods oded oding", "drive drives drove driven",
    "mean means meant meaning", "lie lies lay lying", "tie ties tied tying",
    "stab stabs stabbed stabbing", "plan plans planned planning", "quit quits quitting",
    "swallow swallows swallowed swallowing", "jump jumps jumped jumping",
    "stop stops stopped stopping", "end ends ended ending", "live lives lived living",
    # Spanish: only groups whose forms all mean the same thing; reflexive forms
    # ("matarme") are written out in safety.yaml, since "mato" alone is not
    # about oneself ("yo la mato", "mato el tiempo").
    "morir muero muere mueres muera morire moriria muriendo",
    "morirme morirse muriendome", "vivir vivo vive viviendo vivire",
    "querer quiero quiere quisiera queria quise",
    "aguantar aguanto aguanta aguantare aguantando aguantarlo",
    "despertar despierto despertare", "despertarme despertarse",
    "suicidarme suicidandome",
)
_GROUP_OF: dict[str, tuple[str, ...]] = {}
for _line in _GROUPS:
    _members = tuple(_line.split())
    for _member in _members:
        _GROUP_OF.setdefault(_member, _members)

# Words too common or too short to inflect (they stand for themselves).
_NO_FORMS = frozenset("""i me my mine myself you your yourself he him his himself she her herself
it itself we us our they them their the a an and or but if of to in on at by for from with
about into over off out up down no not nor so than then this that these those there here all
any some every each other one ones what who whom when where why how which while will would
can could should shall may might must too very also again ever never anymore tonight today
tomorrow yo mi me te se lo la el los las de del que en con por para sin mas ya no ni un una
unos unas y o a al es soy""".split())


def forms(word: str) -> frozenset[str]:
    """Return the forms `word` stands for: itself, its inflections, its irregular group."""
    group = _GROUP_OF.get(word, ())
    if word in _NO_FORMS or len(word) < 3 or not word.isalpha():
        return frozenset({word, *group})
    out = {word, word + "ing"}
    if word.endswith("e"):
        out.update({word + "s", word + "d", word[:-1] + "ing"})
    elif word.endswith(("s", "x", "z", "ch", "sh")):
        out.update({word + "es", word + "ed"})
    elif word.endswith("y"):
        out.update({word + "s", word + "ed", word[:-1] + "ied", word[:-1] + "ies"})
    else:
        out.update({word + "s", word + "ed"})
    if word.endswith("ie"):
        out.add(word[:-2] + "ying")
    out.update(group)
    return frozenset(out)
