"""The safety screen's families, tiers, normalising and previous-text join (SPEC §10).

Examples here are written for the families (how people say each thing), not
copied from the labelled corpus in tests/safety/, which measures the screen.
Each family is checked on the shipped flows/safety.yaml and on the built-in
screen used when that file is missing or broken.
"""

from __future__ import annotations

import pytest

from bot.flows.safety import SafetyMatcher, Tier
from bot.flows.safety_text import fold, forms, squash, words


@pytest.fixture(scope="module", params=["shipped", "builtin"])
def screen(request, shipped):
    return shipped if request.param == "shipped" else SafetyMatcher()


CRISIS_BY_FAMILY = {
    "direct_intent": ["i am going to end my life this weekend", "I'll kill myself",
                      "ready to end it all", "honestly i wanna die", "I'm suicidal again",
                      "there is nothing at all left to live for",
                      "i do not want to live anymore", "im so tired of living like this",
                      "maybe I should just die", "death would honestly be a relief",
                      "I don't deserve to live", "i dont wanna wake up tomorrow",
                      "been researching painless methods"],
    "passive_wish": ["some nights I hope I go to sleep and just never wake up",
                     "I wish I had never been born", "rather be dead than keep going"],
    "method_overdose": ["thinking about swallowing all of my percocets",
                        "been stockpiling my oxy for a while", "I'll take the whole bottle",
                        "i have enough pain pills saved to make sure",
                        "planning to overdose on my meds tonight",
                        "how many of my percs does it take", "swallowed 35 of my pills"],
    "method_firearm": ["I keep thinking about putting a bullet through my head",
                       "want to blow my brains out", "my pistol is in my mouth",
                       "sitting with my shotgun and I'm going to use it"],
    "method_other": ["i might hang myself in the garage", "tied a noose last night",
                     "gonna jump off the overpass", "step in front of a train"],
    "self_harm": ["I cut myself again last night", "slit my wrists",
                  "i want to hurt myself so bad", "i keep burning myself with cigarettes"],
    "slang": ["kms", "ngl i might kms tonight", "thinking about how to unalive myself", "ctb",
              "gonna off myself"],
    "preparation_farewell": ["wrote a goodbye note to my kids", "it all ends tonight",
                             "this is goodbye, thank you for everything"],
    "past_attempt": ["tried to kill myself on friday", "I nearly ended it last month"],
    "spanish": ["me quiero morir", "ya no quiero vivir", "me voy a matar esta noche",
                "quiero quitarme la vida", "mejor muerto", "voy a tomarme todas mis pastillas",
                "pienso ahorcarme", "quiero cortarme las venas", "me voy a suicidar",
                "ya no quiero estar en este mundo", "ojala me muriera",
                "quisiera dormir para siempre"],
}
CONCERN_BY_FAMILY = {
    "hopelessness": ["I can't go on like this", "there's no point anymore",
                     "what's the point of anything", "I feel totally hopeless",
                     "ya no aguanto mas", "no puedo seguir asi", "I feel so trapped",
                     "I don't think I will make it through the night", "what's the use",
                     "it's all too much lately", "i hate my life", "no veo ninguna salida"],
    "burden": ["nobody would miss me", "my family would be better off without me",
               "i feel like such a burden", "nadie me extranaria", "soy una carga",
               "nobody needs me now", "who cares if I die", "es mejor que yo no este"],
    "leaving_signs": ["I gave away most of my things", "won't be around much longer",
                      "you won't have to worry about me anymore",
                      "I'm sorry for everything, bye"],
    "loss_to_suicide": ["my buddy killed himself last year",
                        "lost my brother to suicide in 2019"],
}
NONE_TEXTS = [
    "my back is killing me", "this pain is killing me today", "my knees are killing me",
    "I'm dying for a coffee", "that pie was to die for", "dead tired after PT",
    "I could kill for a burger", "killing it at the gym", "drop dead gorgeous day",
    "I nearly died laughing", "me muero de hambre", "me mata el dolor de espalda",
    "estoy muerto de cansancio", "I take my pills every morning", "the pills help a lot",
    "ran out of my pain pills, need a refill", "took my rifle out hunting",
    "cleaning my gun this afternoon", "went to suicide prevention training at the VFW",
    "I hurt myself lifting the mower", "I want to take my life back from this pain",
    "shot myself in the foot with that one", "cut myself shaving", "7", "YES", "",
    "I almost killed myself tripping on the stairs", "ok thanks, walked 20 minutes",
    "I need to cut back on sugar", "I could sleep forever after that walk",
    "I double dosed by mistake, is that ok?", "I give up on this diet",
    "I keep my pistol loaded for home defense", "me voy a morir de risa",
    "slid off the road into a ditch on the ice",
    "hoy es mi ultimo dia de trabajo", "ya no aguanto el calor",
    "I don't want to wake up early tomorrow", "I'd rather die than eat kale",
    "I take all my meds at night", "I fell and hurt myself again",
    "can't do it today, my knee is bad", "I'm hanging in there", "I'll try tomorrow",
    "I'm saving my pills for the bad days", "the doctor cut my opioids in half",
    "nadie me quiere ayudar con la mudanza", "me corte el pelo",
]


@pytest.mark.parametrize("family,text", [(f, t) for f, ts in CRISIS_BY_FAMILY.items()
                                         for t in ts])
def test_crisis_families_are_crisis(shipped, family, text):
    assert shipped.screen(text).tier is Tier.CRISIS, (family, shipped.screen(text))


@pytest.mark.parametrize("family,text", [(f, t) for f, ts in CONCERN_BY_FAMILY.items()
                                         for t in ts])
def test_concern_families_are_concern(shipped, family, text):
    assert shipped.screen(text).tier is Tier.CONCERN, (family, shipped.screen(text))


@pytest.mark.parametrize("text", NONE_TEXTS)
def test_idioms_and_everyday_talk_are_none(screen, text):
    assert screen.screen(text).tier is Tier.NONE, screen.screen(text)


@pytest.mark.parametrize("text", ["I want to die", "kill myself", "me quiero morir", "kms",
                                  "thinking about hanging myself", "put a bullet in my head",
                                  "saving up my pills", "wrote my goodbye letter"])
def test_the_builtin_screen_covers_the_crisis_families(text):
    assert SafetyMatcher().screen(text).tier is Tier.CRISIS


@pytest.mark.parametrize("text", ["I cannot go on", "nobody would miss me",
                                  "gave away my things", "my buddy killed himself"])
def test_the_builtin_screen_has_the_concern_tier(text):
    assert SafetyMatcher().screen(text).tier is Tier.CONCERN


def test_the_verdict_names_the_rule_and_family(shipped):
    verdict = shipped.screen("I've been saving up my oxys")
    assert verdict.tier is Tier.CRISIS and verdict.family == "method_overdose"
    assert verdict.rule is not None and "<pills>" in verdict.rule
    assert shipped.match("I've been saving up my oxys") == verdict.rule
    assert shipped.match("I cannot go on") is None  # match() is the crisis tier only


# --- normalising -----------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "KILL MYSELF", "kill myseIf", "k1ll mys3lf", "k!ll myself", "ki|| myself", "$uicidal",
    "k.i.l.l myself", "k i l l myself", "k-i-l-l m-y-s-e-l-f", "killmyself", "kill my self",
    "kiiiiill myyyself", "kil myslef", "sucidal", "ｋｉｌｌ ｍｙｓｅｌｆ",  # full width
    "kіll myself",  # Cyrillic i
    "κill myself",  # Greek kappa
    "k\u200bill myself",  # zero-width space
    "k*ll myself", "w4nt t0 d1e", "want2die", "i wanna d!e", "QUIERO MORIR",
    "me quiero morír", "quitarme la vída", "I'm going to kiII myself", "end my lyfe",
    "i wanna be ded", "iwannadie", "imgonnakms", "quierokitarmelavida", "yanokierobivir",
    "i wnna die",  # texting forms and spelling by ear inside run-together words
])
def test_disguised_crisis_words_are_read(shipped, text):
    assert shipped.screen(text).tier is Tier.CRISIS, text


@pytest.mark.parametrize("text,expected", [
    ("I'm", ["i", "am"]), ("can't", ["can", "not"]), ("dont", ["do", "not"]),
    ("wanna", ["want", "to"]), ("u", ["you"]), ("10am", ["10am"]), ("50mg", ["50mg"]),
    ("more!!!", ["more"]), ("más", ["mas"]), ("k i l l", ["kill"]), ("a b", ["a", "b"]),
])
def test_words_are_normalised(text, expected):
    assert words(text) == expected


def test_fold_undoes_lookalikes_width_and_accents():
    assert fold("ＡＢＣ ñandú Сука") == "abc nandu cyka"


@pytest.mark.parametrize("word,form", [("kill", "killed"), ("kill", "killing"),
                                       ("hang", "hung"), ("hang", "hanged"), ("cut", "cutting"),
                                       ("overdose", "od"), ("overdose", "overdosed"),
                                       ("die", "dying"), ("die", "died"), ("take", "took")])
def test_forms_cover_inflections(word, form):
    assert squash(form) in {squash(f) for f in forms(word)}


@pytest.mark.parametrize("text", ["killed myself", "killing myself", "hanging myself",
                                  "overdosed on purpose", "i od'd on purpose last night"])
def test_inflected_phrases_match(shipped, text):
    assert shipped.screen(text).tier is Tier.CRISIS, text


def test_words_between_the_parts_of_a_phrase(shipped):
    assert shipped.screen("nothing much left anymore to live for").tier is Tier.CRISIS
    assert shipped.screen("I have a gun and I'm thinking about using it").tier is Tier.CRISIS
    # a gap has a limit: words far apart are not a phrase
    assert shipped.screen("nothing on tv tonight, going to the store because I need milk "
                          "and bread to live for the week").tier is Tier.NONE


# --- exceptions, context ---------------------------------------------------------------

@pytest.mark.parametrize("text", ["my back is killing me and I want to die",
                                  "I want to die for real", "this pain is killing me, kms",
                                  "dying to see my kids but honestly I'm suicidal"])
def test_an_exception_covers_only_its_own_words(shipped, text):
    assert shipped.screen(text).tier is Tier.CRISIS


def test_grief_and_denial_are_concern_not_crisis(shipped):
    assert shipped.screen("my buddy committed suicide last year").tier is Tier.CONCERN
    assert shipped.screen("I'm not suicidal, just tired").tier is Tier.CONCERN
    assert shipped.screen("my buddy committed suicide and I want to kill myself").tier \
        is Tier.CRISIS


def test_suicide_as_a_topic_stays_out(shipped):
    for text in ("suicide prevention month at the VA", "the veteran suicide rate is awful",
                 "watched a documentary about suicide"):
        assert shipped.screen(text).tier is Tier.NONE, text


# --- the previous text -----------------------------------------------------------------

def test_the_previous_text_is_joined(shipped):
    assert shipped.screen("die", previous="I want to").tier is Tier.CRISIS
    assert shipped.screen("myself", previous="I'm going to kill").tier is Tier.CRISIS
    assert shipped.screen("pills tonight", previous="thinking about taking all my").tier \
        is Tier.CRISIS
    assert shipped.screen("go on", previous="I can not").tier is Tier.CONCERN


def test_a_match_wholly_inside_the_previous_text_does_not_count(shipped):
    assert shipped.screen("ok thanks", previous="I want to die").tier is Tier.NONE
    assert shipped.screen("7", previous="I cannot go on").tier is Tier.NONE


def test_the_higher_tier_wins(shipped):
    assert shipped.screen("I want to kill myself", previous="I cannot go on").tier \
        is Tier.CRISIS
    assert shipped.screen("I cannot go on, I want to die").tier is Tier.CRISIS


def test_an_exception_in_the_joined_text_still_covers_its_words(shipped):
    assert shipped.screen("killing me", previous="my back is").tier is Tier.NONE


# --- texts -----------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["shipped", "builtin"])
def test_the_three_texts(shipped, which):
    from bot.sms import segments_for

    matcher = shipped if which == "shipped" else SafetyMatcher()
    for text in (matcher.reply, matcher.concern_reply, matcher.concern_no_reply):
        assert "988" in text and "838255" in text
        assert "coach" not in text.lower()  # who was told is added only when true
        assert segments_for(text) <= 2
        assert all(ord(ch) < 128 for ch in text)
    assert "dial 988 then press 1" in matcher.reply and "VeteransCrisisLine.net" in matcher.reply
    assert "911" in matcher.reply
    assert "Are you thinking about killing yourself? Reply YES or NO" in matcher.concern_reply
    assert "VeteransCrisisLine.net" in matcher.concern_reply


@pytest.mark.parametrize("text", ["kill myself " * 300, "a " * 3000, "k" * 5000, "😂" * 3000,
                                  "my back is killing me and I want to die " * 80,
                                  "\x00\ufeff\u200b" * 500, "((( ||| <<< >>> ... ***" * 50])
def test_odd_and_huge_texts_are_screened_quickly_and_never_raise(shipped, text):
    import time

    started = time.perf_counter()
    verdict = shipped.screen(text, previous=text)
    assert verdict.tier in (Tier.CRISIS, Tier.CONCERN, Tier.NONE)
    assert time.perf_counter() - started < 2.0


# Mechanisms added after the held-out analysis (tests/safety/heldout/ANALYSIS.md):
# the crisis word is implied (a pronoun, a means, an amount, an absence). The
# examples are written fresh for each mechanism, not taken from either set.
MECHANISM_CRISIS = {
    "act_by_pronoun": ["nearly did it this weekend", "i figured out when i'm going to do it",
                       "ya decidi cuando lo voy a hacer", "casi lo hago ayer"],
    "means_at_hand": ["my percs are my way out", "have the noose ready",
                      "only need 1 bullet", "tengo guardadas suficientes pastillas",
                      "the barrel was under my chin for an hour"],
    "overdose_amount": ["popped a handful of my xanax", "took every last one on purpose",
                        "voy a tragarme toda la hidrocodona", "quiero tomarmelas todas"],
    "wish_other_shapes": ["the one thing i pray for is to not wake up",
                          "being dead sounds peaceful", "ya no quiero seguir vivo",
                          "me da igual si me muero", "hoping i pass away in my sleep"],
    "joining_the_dead": ["went to the funeral of another brother, time to join them"],
    "regional_spanish": ["me quiero aventar al rio", "voy a chocar la camioneta adrede",
                         "me dan ganas de lastimar"],
    "attempt_history": ["woke up in the ER after swallowing my pills",
                        "this is not my first attempt", "couldn't even kill myself right"],
    "more_shapes": ["decided to check out", "ready to leave this earth",
                    "it would be a relief to be gone", "me gustaria morirme ya",
                    "me voy a lanzar desde el quinto piso",
                    "pienso beberme el anticongelante", "ya quiero colgar los tenis",
                    "gonna chug the drain cleaner",
                    "a belt around my neck", "que se termine esta vida ya",
                    "quisiera dejar de existir"],
}
MECHANISM_CONCERN = {
    "future_absence": ["ill be gone soon", "won't be coming back from this trip",
                       "no voy a estar para navidad", "i won't make it to thanksgiving"],
    "worth_and_burden": ["i'm a waste of oxygen", "my kids deserve better than me",
                         "a nadie le importaria si desaparezco"],
    "permanence": ["im past saving", "ya no le veo caso a la vida", "nothing will ever change"],
    "hopelessness_more": ["i've lost the will to live", "no fight left in me",
                          "me siento sin salida", "ya no valgo nada"],
    "burden_more": ["i'm dragging my family down", "everyone must be sick of me"],
    "means_weaker": ["afraid i will use my pistol", "can't stop thinking about the rifle"],
    "reported_denial": ["the nurse asked if i wanted to kill myself and i said no"],
}
MECHANISM_NONE = [
    "thinking about pulling the trigger on a new truck", "I'd die of embarrassment",
    "going to dye my hair red", "redid my will with the attorney",
    "won't be around tomorrow, at the dentist all morning", "ya no puedo mas con este calor",
    "me voy a cortar el pelo", "me rindo, ganaste jaja", "no tiene sentido discutir",
    "I feel ill, be back later", "hope i don't wake up at 4 again",
    "took my rifle out of the case and cleaned it", "my first attempt at baking bread",
    "the VA had a briefing on veteran suicide",
    "i'm out of options for lunch", "nothing works anymore on this old mower",
    "estoy harta de la vida de ciudad", "ill be there at noon", "i'm going to jump in the pool",
    "me canse de todo el papeleo", "trying to hang on until payday",
    "ojala me lleve mi hermano al doctor", "me tire al vacio y abri mi negocio",
    "i'd rather stab myself in the eye than sit through that again",
    "i tripped last night and my knee is swollen",
    "i tried again to reach the pharmacy", "me tome todas mis pastillas esta manana",
    "compre cloro para la ropa", "me tome un vaso de leche",
]


@pytest.mark.parametrize("family,text", [(f, t) for f, ts in MECHANISM_CRISIS.items()
                                         for t in ts])
def test_implied_crisis_mechanisms_are_crisis(shipped, family, text):
    assert shipped.screen(text).tier is Tier.CRISIS, (family, shipped.screen(text))


@pytest.mark.parametrize("family,text", [(f, t) for f, ts in MECHANISM_CONCERN.items()
                                         for t in ts])
def test_indirect_mechanisms_are_at_least_concern(shipped, family, text):
    assert shipped.screen(text).tier is not Tier.NONE, (family, shipped.screen(text))


@pytest.mark.parametrize("text", MECHANISM_NONE)
def test_mechanism_lookalikes_stay_out(shipped, text):
    assert shipped.screen(text).tier is Tier.NONE, shipped.screen(text)


def test_a_reported_question_answered_no_is_concern_not_crisis(shipped):
    verdict = shipped.screen("el doctor me pregunto si me queria matar y le dije que no")
    assert verdict.tier is Tier.CONCERN, verdict


@pytest.mark.parametrize("text", [
    "the counselor asked whether i had been thinking about ending my life",
    "la psicologa me pregunto si pensaba en quitarme la vida",
    "in training they said if a buddy says he wants to die, call 988",
])
def test_quoted_questions_and_warning_sign_talk_are_concern(shipped, text):
    assert shipped.screen(text).tier is Tier.CONCERN, shipped.screen(text)


def test_a_fall_is_not_read_as_an_attempt_by_typo(shipped):
    assert shipped.screen("i tripped last night and hurt my back").tier is Tier.NONE
    assert shipped.screen("i tried again last night").tier is Tier.CRISIS


def test_a_question_frame_does_not_swallow_the_writers_own_words(shipped):
    assert shipped.screen("she asked if i was eating, i want to die").tier is Tier.CRISIS


@pytest.mark.parametrize("text,expected", [
    ("ill be gone", ["i", "will", "be", "gone"]),
    ("i feel ill", ["i", "feel", "ill"]),
    ("mentally ill be careful", ["mentally", "ill", "be", "careful"]),
    ("kisiera morir", ["quisiera", "morir"]),
    ("tonights the night", ["tonight", "is", "the", "night"]),
    ("youll see", ["you", "will", "see"]),
    ("no1 cares", ["no", "one", "cares"]),
    ("see u b4 2moro", ["see", "you", "before", "tomorrow"]),
    ("k i l l", ["kill"]),
])
def test_texting_contractions_are_spelled_out(text, expected):
    assert words(text) == expected
