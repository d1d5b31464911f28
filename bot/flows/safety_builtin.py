"""The built-in safety screen, used when flows/safety.yaml is missing or broken.

Rules: both tiers and all three texts are always here, so crisis detection is
never off; the phrases are a shorter copy of the shipped families (same
syntax, see bot/flows/safety_phrases.py); texts are GSM-7 and never say who was
told (the crisis-alert code adds that sentence only when it is true).
"""

from __future__ import annotations

REPLY = ("I'm really glad you told me. You are not alone. Please reach the Veterans Crisis Line "
         "now: dial 988 then press 1, text 838255, or chat at VeteransCrisisLine.net. If you are "
         "in danger, call 911.")
CONCERN_REPLY = ("Thank you for telling me. Are you thinking about killing yourself? Reply YES or "
                 "NO. The Veterans Crisis Line is there 24/7: dial 988 then press 1, text 838255, "
                 "or chat at VeteransCrisisLine.net.")
CONCERN_NO_REPLY = ("Thank you for answering. If things get harder, the Veterans Crisis Line is "
                    "there 24/7: dial 988 then press 1, or text 838255.")

# Looked for as plain substrings only if the screen itself fails.
PLAIN_CRISIS_WORDS = ("suicid", "kill myself", "kill my self", "want to die", "wanna die",
                      "end my life", "better off dead", "kms", "overdose", "hang myself",
                      "shoot myself", "matarme", "quiero morir")

LISTS = {
    "intend": ["want to", "go to", "plan to", "plan on", "think about", "ready to", "about to",
               "need to", "feel like", "will", "might", "should", "try to"],
    "pills": ["pills", "pill", "meds", "medication*", "oxy*", "percocet*", "opioid*",
              "painkiller*", "fentanyl", "morphine", "pastilla*", "pildora*"],
    "guns": ["gun", "pistol", "rifle", "shotgun", "firearm", "handgun", "pistola", "arma"],
    "people": ["he", "she", "they", "buddy", "friend", "brother", "son", "daughter", "dad",
               "mom", "husband", "wife", "veteran", "someone", "amigo", "hermano", "hijo"],
}

# (name, tier, context, phrases)
FAMILIES: list[tuple[str, str, bool, list[str]]] = [
    ("direct_intent", "crisis", False, [
        "kill myself", "end myself", "(end|take) my (own)? life", "(end|ending) it all",
        "suicid*", "want to die", "(ready|wish|hope) to die", "want to be dead",
        "(wish|hope) i (be|had) (dead|died|never been born)", "(rather|better off) be? dead",
        "no reason (to|for) (live|living)", "nothing (left)? ... to live for",
        "(do not|dont) want to (live|be alive|be here) (anymore)?", "tired of (living|life)",
        "(quiero|quisiera) morir", "me (quiero|voy a) matar", "matarme",
        "quitarme la vida", "(no|ya no) quiero vivir", "mejor (muerto|muerta)"]),
    ("passive_wish", "crisis", False, [
        "(sleep|asleep) ... (never|not) wake up", "(want|wish|hope) ... (never|not) wake up",
        "wish i (be|had) (not|never) (here|alive|born)", "(dormir|dormirme) y no despertar"]),
    ("method_overdose", "crisis", False, [
        "<intend> (overdose|od)", "overdose on (purpose|my|all)",
        "(take|swallow|down|pop) (all|the whole bottle|a handful|a bunch) (of)? (my|the)? <pills>",
        "(save|saving) up (my)? <pills>", "(stockpil*|hoard*) ... <pills>",
        "enough <pills> to", "(tomarme|tomar) (todas|todo) (las|mis)? <pills>"]),
    ("method_firearm", "crisis", False, [
        "shoot myself", "bullet (in|into|through) my (head|brain|mouth)",
        "blow my (brains|head) out", "eat my (gun|bullet)", "<guns> (to|in) my (head|mouth)",
        "<guns> ... (think about|go to|want to) (use|using) it", "(pegarme|darme) un tiro"]),
    ("method_other", "crisis", False, [
        "hang myself", "noose", "jump (off|from) (a|the)? (bridge|building|roof|cliff)",
        "(jump|step) in front of (a|the)? (train|bus|truck|traffic)", "drown myself",
        "ahorcarme", "(tirarme|aventarme) (de|del|desde) (un|el|la)? (puente|edificio)"]),
    ("self_harm", "crisis", False, [
        "cut myself", "slit my (wrists|throat)", "self harm*", "<intend> (hurt|harm) myself",
        "cortarme las venas", "autolesi*"]),
    ("slang", "crisis", False, [
        "kms", "unaliv*", "ctb", "(off|offing) myself", "i ... kys", "sewer slide"]),
    ("preparation_farewell", "crisis", False, [
        "(goodbye|suicide|farewell) (letter|note)", "(it|this|everything) ends (tonight|today|now)",
        "this (is|be) goodbye", "goodbye (forever|everyone|world)", "carta de despedida"]),
    ("hopelessness", "concern", False, [
        "can not go on", "can not (do|take) (this|it) anymore", "no point (anymore|in living)",
        "(what is|whats) the point (anymore|of living)", "(feel|am|be) hopeless",
        "(no|ya no) aguanto", "(no|ya no) puedo (mas|seguir)", "no hay (esperanza|salida)"]),
    ("burden", "concern", False, [
        "(nobody|no one) (would|will) (miss|care|notice)", "better off without me",
        "(be|am) a burden", "nadie me (extranaria|va a extranar)", "mejor sin mi",
        "soy una carga"]),
    ("leaving_signs", "concern", False, [
        "(give|gave|giving) away (all)? (my)? (stuff|things|guns)",
        "(will not|not go to) be (around|here) (much longer|for long)"]),
    ("loss_or_denial", "concern", True, [
        "(kill|shoot|hang) (himself|herself|themselves)",
        "<people> (has|had|just)? (commit|committed|died by) suicide",
        "(lost|losing) (my)? <people> to suicide", "not suicidal",
        "(do not|dont) want to die", "no (quiero|quisiera) morir"]),
    ("idioms", "none", False, [
        "(be|keep) killing me", "(die|dying) (for|to (see|get|try|know|go|eat|have))",
        "to die for", "(die|died|dying) laughing", "dead tired", "shoot myself in the foot",
        "cut myself (shaving|cooking|on (a|the))", "kill myself (laughing|working|trying to)",
        "take my (own)? life back",
        "(me quiero|quiero)? (morir|morirme) de (risa|verguenza|hambre)",
        "(almost|nearly) kill myself (falling|tripping|slipping|on (the|a|my))",
        "(no|ya no) aguanto (el|la|los|las|al) (calor|frio|trafico|ruido|gente|jefe)",
        "(take|took) all (of)? my <pills> (every|each|at night|in the morning|as prescribed)"]),
    ("topic_talk", "none", False, [
        "suicide (prevention|awareness|rate|rates|bomber|squad)",
        "(news|story|article|training|class) (about|on) suicide"]),
]
