"""Ordinary program texts for training the learned layer and choosing its threshold.

Rules:
- Authored for the training script (benchmarks/safety_model_train.py), apart
  from and without reading tests/safety/ordinary/holdout.yaml (the held-out
  measure); any generated text that happens to equal a held-out text
  (case, spacing, accents and closing punctuation ignored) is dropped, so none
  is trained on.
- `templated()` fills templates of the program's own expected answers (PEG
  check-in numbers 0-10 in words and digits, ALL / SOME / NOT YET and strategy
  picks from flows/weekly_checkin.yaml and flows/strategies_pick.yaml) and of
  everyday status, thanks, scheduling, medication, family and hobby texts, in
  English and Spanish. Each text carries its template's group, so
  cross-validation folds never split a template.
- `DEV` is a separate hand-written list, never trained on: the training script
  scores it with the final model to bound the threshold (at most --max-dev of it
  may be raised).
"""

from __future__ import annotations

import itertools
import random

from tests.safety.heldout_set import folded
from tests.safety.ordinary_set import load_ordinary

NUM_EN = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
NUM_ES = ("cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve",
          "diez")

# Each: (group, language, templates, slots). {a} {b} {c} are 0-10 numbers (digits or words).
NUMERIC = (
    ("peg_range", "en", ("between {a} and {b}", "somewhere between {a} and {b}",
                         "{a} to {b} i guess", "like a {a} or {b}", "maybe {a} or {b}",
                         "around {a}, maybe {b} at night", "id say {a}", "about a {a}",
                         "a {a} today", "{a} this morning {b} now", "prob a {a}",
                         "{a} most of the week", "it was a {a} yesterday and {b} today",
                         "hovering around {a}", "{a}/10", "{a} out of 10", "solid {a}")),
    ("peg_triple", "en", ("pain {a} enjoyment {b} activity {c}", "{a} {b} {c}", "{a}, {b}, {c}",
                          "pain {a}, enjoy {b}, activity {c}", "p{a} e{b} a{c}",
                          "pain is {a}, enjoyment {b}, activity about {c}",
                          "{a} for pain {b} for enjoyment {c} for activity",
                          "pain {a} fun {b} getting around {c}")),
    ("peg_range_es", "es", ("entre {a} y {b}", "como un {a} o {b}", "un {a} mas o menos",
                            "yo diria {a}", "hoy un {a}", "{a} en la manana, {b} en la tarde",
                            "como {a} de 10", "{a} de dolor", "le doy un {a}",
                            "ayer {a} hoy {b}", "un {a} creo", "casi {a} toda la semana",
                            "anda en {a}", "{a} o {b}, depende del dia")),
    ("peg_triple_es", "es", ("dolor {a} disfrute {b} actividad {c}", "{a} {b} {c}",
                             "{a}, {b}, {c}", "dolor {a}, disfrutar {b}, actividad {c}",
                             "el dolor {a}, disfrute {b} y actividad {c}",
                             "{a} de dolor {b} de disfrute {c} de actividad")),
)
WORDS = (
    ("goal_answer", "en", "{ans}{tail}",
     {"ans": ("all", "some", "not yet", "all of it", "some of it", "mostly", "a little",
              "most days", "every day", "only twice", "none this week", "half"),
      "tail": ("", " this week", ", walked {n} days", ", but my knee slowed me down",
               ", will try harder next week", " except the weekend", ", thanks for asking",
               ", did the stretches {n} times", " i think", ", it went ok")}),
    ("goal_answer_es", "es", "{ans}{tail}",
     {"ans": ("todo", "algo", "todavia no", "casi todo", "un poco", "la mitad",
              "todos los dias", "solo dos veces", "nada esta semana"),
      "tail": ("", " esta semana", ", camine {n} dias", ", pero la rodilla no me dejo",
               ", la otra semana le echo mas ganas", " menos el fin de semana",
               ", gracias por preguntar", ", hice los estiramientos {n} veces")}),
    ("status_en", "en", "{lead}{state}{tail}",
     {"lead": ("", "honestly ", "well ", "today ", "this week ", "so far "),
      "state": ("feeling better", "feeling a little better", "a bit better today",
                "doing ok", "doing good", "not too bad", "better than yesterday",
                "about the same", "pretty good", "tired but ok", "sore but ok",
                "in a lot of pain", "hurting pretty bad", "rough day with my back",
                "bad night with the hip", "the knee is acting up", "my back is stiff",
                "the pain is up", "the pain is down some", "having a flare",
                "worn out from the pain", "frustrated with this shoulder"),
      "tail": ("", " today", " this morning", ", thanks", ", going to rest",
               ", did my stretches", ", walked the dog", ", weather is bad",
               ", slept ok", ", didnt sleep great")}),
    ("status_es", "es", "{lead}{state}{tail}",
     {"lead": ("", "hoy ", "pues ", "esta semana ", "la verdad "),
      "state": ("me siento mejor", "me siento un poco mejor", "un poco mejor",
                "ando bien", "estoy bien", "mas o menos", "igual que ayer",
                "cansado pero bien", "con mucho dolor", "me duele la espalda",
                "la rodilla me esta molestando", "mala noche con la cadera",
                "el dolor subio", "el dolor bajo un poco", "adolorido",
                "frustrado con el hombro", "bastante bien"),
      "tail": ("", " hoy", " esta manana", ", gracias", ", voy a descansar",
               ", hice los estiramientos", ", sali a caminar", ", dormi bien",
               ", no dormi bien", " gracias a dios")}),
    ("thanks", "en", "{t}{tail}",
     {"t": ("thanks", "thank you", "thank you so much", "thanks coach", "appreciate it",
            "thanks a lot", "many thanks", "thx", "ty"),
      "tail": ("", " for checking in", " for the call", " for the info", ", see you thursday",
               ", that helps", ", have a good weekend", " for the reminder",
               ", talk soon", " for listening")}),
    ("thanks_es", "es", "{t}{tail}",
     {"t": ("gracias", "muchas gracias", "mil gracias", "gracias coach", "se lo agradezco"),
      "tail": ("", " por llamar", " por la informacion", ", nos vemos el jueves",
               ", me ayudo mucho", ", que tenga buen fin de semana", " por el recordatorio",
               ", hablamos pronto", " por escucharme")}),
    ("schedule", "en", "{s}",
     {"s": ("can we move the call to {day}", "can you call me {day} after {h}",
            "i have an appointment {day} at {h}", "call me after {h} please",
            "i cant talk right now", "sorry i missed your call", "is the group on {day}",
            "i will be away until {day}", "what time is the call {day}",
            "can we reschedule to {day} morning", "i am free {day} afternoon",
            "running late, there in {n} minutes", "please text, dont call")}),
    ("schedule_es", "es", "{s}",
     {"s": ("podemos cambiar la llamada al {dia}", "llameme el {dia} despues de las {h}",
            "tengo cita el {dia} a las {h}", "no puedo hablar ahorita",
            "perdon no conteste la llamada", "el grupo es el {dia}?",
            "voy a estar fuera hasta el {dia}", "a que hora es la llamada el {dia}",
            "estoy libre el {dia} en la tarde", "llego en {n} minutos",
            "mejor por mensaje por favor")}),
    ("meds", "en", "{m}",
     {"m": ("started the {drug}, makes me {effect}", "doctor raised my {drug}",
            "ran out of {drug}, waiting on the refill", "the {drug} is helping some",
            "the {drug} is not helping much", "stopped the {drug}, it made me {effect}",
            "can i take {drug} with my other meds", "pharmacy lost my {drug} order",
            "seeing the {doc} on {day}", "the {doc} wants more tests",
            "got my results back from the {doc}", "{doc} says to keep doing PT")}),
    ("meds_es", "es", "{m}",
     {"m": ("empece el {drug}, me da {efecto}", "el doctor me subio el {drug}",
            "se me acabo el {drug}", "el {drug} me ayuda un poco",
            "el {drug} no me hace mucho", "deje el {drug}, me daba {efecto}",
            "puedo tomar {drug} con mis otras medicinas", "veo al {docs} el {dia}",
            "el {docs} quiere mas estudios", "me dieron los resultados del {docs}")}),
    ("life", "en", "{l}",
     {"l": ("went {hobby} with my {who}", "spent the day {hobby}", "my {who} is visiting",
            "my {who} has a birthday {day}", "watched the game with my {who}",
            "taking care of my {who} this week", "my {who} helped me with the yard",
            "trying to get back to {hobby}", "going {hobby} {day} if the weather holds",
            "had lunch with my {who}", "the {who} wore me out")}),
    ("life_es", "es", "{l}",
     {"l": ("sali a {hobby_es} con mi {quien}", "pase el dia en {lugar}",
            "mi {quien} viene de visita", "el cumpleanos de mi {quien} es el {dia}",
            "vi el partido con mi {quien}", "estoy cuidando a mi {quien}",
            "mi {quien} me ayudo con el patio", "quiero volver a {hobby_es}",
            "comi con mi {quien}", "fuimos a misa con mi {quien}")}),
    ("questions", "en", "{q}",
     {"q": ("what was that breathing exercise called", "can you send the video again",
            "how long is the program", "who do i ask about {topic}",
            "can my {who} come to the group", "how do i change my goal",
            "what does {peg} mean on the scale", "where is the {place}",
            "do i need to bring anything {day}", "is there parking at the {place}",
            "can you explain {topic} again", "what is the number for the {place}")}),
    ("questions_es", "es", "{q}",
     {"q": ("como se llama el ejercicio de respirar", "me manda el video otra vez",
            "cuanto dura el programa", "a quien le pregunto sobre {tema}",
            "mi {quien} puede venir al grupo", "como cambio mi meta",
            "que significa {peg_es} en la escala", "donde esta la {lugar}",
            "tengo que llevar algo el {dia}", "me explica otra vez lo de {tema}")}),
    ("intent_en", "en", "{i}",
     {"i": ("i want to try {hobby} again", "i am going to stop {habit}",
            "going to quit {habit} this month", "i give up on {thing}, it hurts my knee",
            "i am done with {thing} for today", "i cant do {thing} anymore but {hobby} is ok",
            "gonna take a break from {thing}", "i wish i could go {hobby} like before",
            "i want to get off the {drug}", "i am tired of waiting on the {doc}")}),
    ("intent_es", "es", "{i}",
     {"i": ("quiero volver a {hobby_es}", "voy a dejar de {habito}",
            "ya no quiero {cosa}, me duele", "ya termine con {cosa} por hoy",
            "ya no puedo {cosa} pero {hobby_es} si", "quiero dejar el {drug}",
            "estoy cansado de esperar al {docs}", "ojala pudiera {hobby_es} como antes")}),
)
FILL = {
    "n": ("2", "3", "4", "5", "two", "three"), "h": ("3", "4", "5", "noon", "10"),
    "day": ("monday", "tuesday", "wednesday", "thursday", "friday", "tomorrow", "next week"),
    "dia": ("lunes", "martes", "miercoles", "jueves", "viernes", "sabado"),
    "drug": ("gabapentin", "meloxicam", "tramadol", "tylenol", "ibuprofen", "duloxetine",
             "lidocaine patch", "muscle relaxer", "naproxen", "cyclobenzaprine"),
    "effect": ("sleepy", "dizzy", "foggy", "sick to my stomach"),
    "efecto": ("sueno", "mareo", "nauseas", "dolor de estomago"),
    "doc": ("ortho", "pcp", "pain doctor", "physical therapist", "chiropractor", "neurologist"),
    "docs": ("doctor", "ortopedista", "terapista", "quiropractico", "especialista"),
    "hobby": ("fishing", "walking", "swimming", "golfing", "bowling", "hunting",
              "woodworking", "gardening", "biking"),
    "hobby_es": ("pescar", "caminar", "nadar", "jugar domino", "trabajar en el jardin",
                 "andar en bici", "bailar"),
    "who": ("wife", "son", "daughter", "grandson", "granddaughter", "brother", "buddy",
            "neighbor", "sister"),
    "quien": ("esposa", "hijo", "hija", "nieto", "nieta", "hermano", "compadre", "vecino"),
    "lugar": ("clinica", "farmacia", "iglesia", "casa de mi hija", "playa"),
    "place": ("clinic", "pharmacy", "pain clinic", "new building", "lab"),
    "topic": ("travel pay", "pacing", "the flare plan", "my refill", "the app"),
    "tema": ("el pago de viaje", "el ritmo", "la receta", "la aplicacion"),
    "peg": ("enjoyment", "activity", "the 0 to 10"), "peg_es": ("disfrute", "actividad"),
    "habit": ("smoking", "soda", "drinking coffee at night", "eating late"),
    "habito": ("fumar", "tomar refresco", "comer tarde"),
    "thing": ("the bike", "the stairs", "the long walks", "the gym", "that band"),
    "cosa": ("la bicicleta", "subir escaleras", "el gimnasio", "las caminatas largas"),
}


def _fill(template: str, rng: random.Random) -> str:
    """Return `template` with every {slot} filled from FILL by `rng`."""
    out = template
    for slot, choices in FILL.items():
        while "{" + slot + "}" in out:
            out = out.replace("{" + slot + "}", rng.choice(choices), 1)
    return out


def templated(per_group: int = 120, seed: int = 7) -> list[tuple[str, str, str]]:
    """Return (text, language, group) ordinary texts from the templates, none held out."""
    rng = random.Random(seed)
    held = {folded(item.text) for item in load_ordinary()}
    out: dict[str, tuple[str, str, str]] = {}
    for group, language, templates in NUMERIC:
        names = NUM_EN if language == "en" else NUM_ES
        for template in templates:
            for _ in range(max(3, per_group // len(templates))):
                numbers = [rng.randint(0, 10) for _ in range(3)]
                spoken = [str(n) if rng.random() < 0.7 else names[n] for n in numbers]
                text = template.format(a=spoken[0], b=spoken[1], c=spoken[2])
                out.setdefault(folded(text), (text, language, f"ordinary/{group}"))
    for group, language, template, slots in WORDS:
        combos = list(itertools.product(*slots.values()))
        rng.shuffle(combos)
        rounds = -(-per_group // len(combos))  # few combos: fill each several times
        for combo in (combos * rounds)[:per_group]:
            text = _fill(template.format(**dict(zip(slots, combo, strict=True))), rng)
            out.setdefault(folded(text), (text, language, f"ordinary/{group}"))
    return [value for key, value in sorted(out.items()) if key not in held]


# Hand-written ordinary texts for choosing the threshold only (never trained on).
DEV = (
    "my pain was a 5 on monday and a 7 by friday",
    "i would put it at a 4 or so",
    "pain 6, enjoyment 6, activity 3",
    "seven for pain, the rest about five",
    "did some, the rain kept me inside",
    "all but one day, proud of that",
    "not yet but i bought the shoes",
    "feeling a whole lot better since the shot",
    "good news, the mri came back clean",
    "slept like a rock last night",
    "went to my grandsons game and sat the whole time",
    "my wife says i look better",
    "hip is barking at me today",
    "long day, the drive wore me out",
    "cold front coming, my joints know it",
    "the pain kept me up most of the night",
    "sick of this cane but it helps",
    "i overdid it in the yard yesterday",
    "could you call me around 3",
    "i will miss group this week, sorry",
    "can we talk friday instead of thursday",
    "is my next visit in person or by phone",
    "what is the name of my coach again",
    "how do i log my walks",
    "the link you sent does not open",
    "the doctor switched me to a patch",
    "waiting on prior approval for the injection",
    "my pharmacy moved, where do i pick up",
    "the new pills upset my stomach",
    "took half a dose and it was enough",
    "the pt gave me a band and a ball",
    "we drove to the coast for the weekend",
    "my buddy from the unit called me",
    "the grandkids are staying over",
    "fixed the fence with my son",
    "made chili for the whole family",
    "watching the ballgame tonight",
    "i want to start walking with my neighbor",
    "i am going to stop eating so late",
    "i quit the gym, going to try the pool",
    "done for the day, going to bed early",
    "no more stairs for me today",
    "thanks for the tip about the heat pack",
    "thank you, you always make my day",
    "you have been a big help this month",
    "got your message, will call back",
    "ok see you then",
    "yes that works for me",
    "sorry, wrong chat",
    "the weather has been nice, got out a lot",
    "me siento mucho mejor desde la inyeccion",
    "le pongo un 6 al dolor hoy",
    "dolor 4, disfrute 7, actividad 6",
    "siete de dolor y lo demas como cinco",
    "hice casi todo, menos el sabado",
    "todavia no pero ya compre los tenis",
    "buenas noticias, la resonancia salio bien",
    "dormi como un bebe anoche",
    "fui al juego de mi nieto",
    "mi esposa dice que me veo mejor",
    "la cadera me esta fregando hoy",
    "dia largo, el viaje me canso",
    "viene el frio y las rodillas lo saben",
    "el dolor no me dejo dormir casi nada",
    "ya me harte del baston pero me ayuda",
    "ayer trabaje mucho en el patio",
    "me puede llamar como a las 3",
    "no voy a poder ir al grupo esta semana",
    "la proxima cita es en persona o por telefono",
    "como se llama mi coach",
    "el enlace que me mando no abre",
    "el doctor me cambio a un parche",
    "estoy esperando la aprobacion para la inyeccion",
    "las pastillas nuevas me caen mal",
    "fuimos a la playa el fin de semana",
    "me llamo un amigo del ejercito",
    "hice pozole para toda la familia",
    "voy a empezar a caminar con mi vecino",
    "ya acabe por hoy, me voy a dormir temprano",
    "gracias por el consejo del calor",
    "gracias, siempre me alegra el dia",
    "recibi su mensaje, le llamo luego",
    "ok nos vemos",
    "si me queda bien ese dia",
    "perdon, me equivoque de chat",
    "todo bien x aca",
    "ando un poco mejor hoy gracias",
    "el dolor anda en 5 today",
    "my knee is mejor but la espalda no",
    "gracias bro, talk to you luego",
)
