"""The label table: source paths -> an event name, a family and natural caption phrases.

An :class:`Event` carries *clauses* ("a cow moos": a full sentence) and *nouns* ("a cow mooing": a noun
phrase), so that caption templates can combine events grammatically ("a cow moos, then thunder
rumbles", "a cow mooing followed by thunder and a bell ringing"). :func:`label_for` maps a source name
and a path inside it to an event, trying source-specific rules first and keyword rules second; a path
that matches nothing returns ``None`` and the builder reports it as unlabelled (never guessed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Event", "EVENTS", "FAMILIES", "label_for", "event", "CONTINUING", "REPEATING"]


@dataclass(frozen=True)
class Event:
    """One kind of sound event."""

    name: str  # unique key, e.g. "cow"
    family: str  # coarse class used for stratified splits and tags
    clauses: tuple[str, ...]  # full sentences: "a cow moos"
    nouns: tuple[str, ...]  # noun phrases: "a cow mooing"
    tags: tuple[str, ...] = field(default_factory=tuple)  # extra tags beyond name and family


def _e(name: str, family: str, clauses: str, nouns: str, tags: str = "") -> Event:
    return Event(name, family, tuple(c.strip() for c in clauses.split("|")),
                 tuple(n.strip() for n in nouns.split("|")), tuple(t for t in tags.split(",") if t))


_EVENT_LIST = [
    # animals
    _e("cow", "animal", "a cow moos|cattle low", "a cow mooing|cattle lowing", "cattle,livestock"),
    _e("sheep", "animal", "a sheep bleats|sheep baa", "a sheep bleating|sheep baaing", "livestock"),
    _e("goat", "animal", "a goat bleats", "a goat bleating", "livestock"),
    _e("pig", "animal", "a pig grunts|a pig oinks", "a pig grunting|a pig oinking", "livestock"),
    _e("horse", "animal", "a horse neighs|a horse whinnies", "a horse neighing|a horse whinnying"),
    _e("horse_gallop", "animal", "a horse gallops|hooves clop", "a horse galloping|hooves clopping", "horse"),
    _e("dog", "animal", "a dog barks", "a dog barking", "dog,bark"),
    _e("cat", "animal", "a cat meows", "a cat meowing", "cat"),
    _e("chicken", "animal", "a chicken clucks|hens cluck", "a chicken clucking|hens clucking", "bird"),
    _e("rooster", "animal", "a rooster crows", "a rooster crowing", "bird"),
    _e("duck", "animal", "a duck quacks", "a duck quacking", "bird"),
    _e("goose", "animal", "a goose honks", "a goose honking", "bird"),
    _e("owl", "animal", "an owl hoots", "an owl hooting", "bird"),
    _e("crow", "animal", "a crow caws", "a crow cawing", "bird"),
    _e("birds", "animal", "birds chirp|birds sing", "birds chirping|birdsong", "bird"),
    _e("peacock", "animal", "a peacock calls", "a peacock calling", "bird"),
    _e("elephant", "animal", "an elephant trumpets", "an elephant trumpeting"),
    _e("lion", "animal", "a lion roars", "a lion roaring", "roar"),
    _e("tiger", "animal", "a tiger growls", "a tiger growling", "roar"),
    _e("bear", "animal", "a bear growls", "a bear growling", "roar"),
    _e("wolf", "animal", "a wolf howls", "a wolf howling", "dog"),
    _e("camel", "animal", "a camel grunts", "a camel grunting"),
    _e("donkey", "animal", "a donkey brays", "a donkey braying"),
    _e("frog", "animal", "a frog croaks|frogs croak", "a frog croaking|frogs croaking"),
    _e("crickets", "animal", "crickets chirp", "crickets chirping", "insect"),
    _e("bee", "animal", "a bee buzzes", "a bee buzzing", "insect"),
    _e("mosquito", "animal", "a mosquito whines", "a mosquito whining", "insect"),
    _e("monkey", "animal", "a monkey chatters", "a monkey chattering"),
    _e("deer", "animal", "a deer bellows", "a deer bellowing"),
    _e("boar", "animal", "a boar grunts", "a boar grunting"),
    _e("whale", "animal", "a whale sings", "whale song"),
    _e("dolphin", "animal", "a dolphin clicks and whistles", "a dolphin whistling"),
    _e("seal", "animal", "a sea lion barks", "a sea lion barking"),
    _e("snake", "animal", "a snake hisses", "a snake hissing"),
    _e("creature", "animal", "a creature growls", "a creature growling", "roar"),
    _e("bat_wings", "animal", "wings flap", "wings flapping"),
    # water and weather
    _e("river", "water", "a river flows|a stream rushes", "a flowing river|a rushing stream", "river"),
    _e("river_fast", "water", "a fast river rushes|rapids roar", "a fast river rushing|roaring rapids", "river"),
    _e("waterfall", "water", "a waterfall roars", "a roaring waterfall", "river"),
    _e("waves", "water", "waves crash on the shore|the sea surges", "waves crashing|the surf", "sea"),
    _e("splash", "water", "water splashes|something splashes into water", "a splash|water splashing"),
    _e("drip", "water", "water drips|drops fall", "water dripping|dripping water"),
    _e("bubbles", "water", "liquid bubbles", "bubbling liquid"),
    _e("rain", "weather", "rain falls|it is raining", "falling rain|rain pattering"),
    _e("thunder", "weather", "thunder rumbles|thunder cracks", "rumbling thunder|a thunderclap"),
    _e("wind", "weather", "wind blows|the wind howls", "blowing wind|a howling wind"),
    _e("wind_leaves", "weather", "wind rustles the leaves", "leaves rustling in the wind", "wind"),
    _e("storm", "weather", "a storm rages", "a raging storm", "wind"),
    _e("fire", "fire", "a fire crackles", "a crackling fire"),
    _e("explosion", "impacts", "something explodes|an explosion booms", "an explosion|a loud blast"),
    # footsteps
    _e("footsteps", "footsteps", "someone walks|footsteps sound", "footsteps|someone walking"),
    _e("footsteps_run", "footsteps", "someone runs", "running footsteps", "footsteps"),
    _e("footsteps_sand", "footsteps", "someone walks on sand", "footsteps on sand", "footsteps"),
    _e("footsteps_snow", "footsteps", "someone walks on snow", "footsteps on snow", "footsteps"),
    _e("footsteps_grass", "footsteps", "someone walks on grass", "footsteps on grass", "footsteps"),
    _e("footsteps_gravel", "footsteps", "someone walks on gravel", "footsteps on gravel", "footsteps"),
    _e("footsteps_rock", "footsteps", "someone walks on rock", "footsteps on rock", "footsteps"),
    _e("footsteps_wood", "footsteps", "someone walks on a wooden floor", "footsteps on wood", "footsteps"),
    # tools and work
    _e("saw", "tools", "someone saws wood|a saw cuts through wood", "a saw cutting wood|sawing"),
    _e("hammer", "tools", "a hammer strikes|someone hammers", "a hammer striking|hammering"),
    _e("chopping", "tools", "an axe chops wood|someone chops wood", "an axe chopping wood|wood chopping"),
    _e("tree_fall", "tools", "a tree falls with a crash", "a tree falling"),
    _e("pickaxe", "tools", "a pickaxe strikes stone", "a pickaxe striking stone|mining"),
    _e("smithing", "tools", "a smith hammers metal on an anvil", "metal hammered on an anvil", "metal"),
    _e("scissors", "tools", "scissors snip", "scissors snipping"),
    _e("drill", "tools", "a drill whirs", "a drill whirring", "machine"),
    _e("mill", "tools", "a mill turns and creaks", "a mill turning", "machine"),
    _e("digging", "tools", "someone digs the ground", "digging"),
    # domestic
    _e("door", "domestic", "a door opens|a door closes", "a door opening|a door closing"),
    _e("knock", "domestic", "someone knocks on a door", "knocking on a door", "door"),
    _e("kettle", "domestic", "a kettle whistles", "a whistling kettle"),
    _e("vacuum", "domestic", "a vacuum cleaner runs", "a vacuum cleaner running", "machine"),
    _e("toilet", "domestic", "a toilet flushes", "a toilet flushing", "water"),
    _e("washing_machine", "domestic", "a washing machine spins", "a washing machine spinning", "machine"),
    _e("clock", "domestic", "a clock ticks", "a ticking clock"),
    _e("glass", "domestic", "glass clinks", "glass clinking"),
    _e("camera", "domestic", "a camera shutter clicks", "a camera shutter clicking"),
    _e("coins", "domestic", "coins jingle", "coins jingling"),
    _e("applause", "crowd", "people applaud|a crowd claps", "applause|a crowd clapping"),
    _e("laugh", "crowd", "someone laughs", "laughter", "voice"),
    _e("heartbeat", "domestic", "a heart beats", "a heartbeat"),
    # vehicles and machines
    _e("car", "vehicles", "a car engine runs|a car drives past", "a car engine|a passing car", "engine"),
    _e("train", "vehicles", "a train passes|a train rolls along the tracks", "a passing train|a train on the tracks"),
    _e("helicopter", "vehicles", "a helicopter flies overhead", "a helicopter", "engine"),
    _e("plane", "vehicles", "an airplane flies over", "an airplane", "engine"),
    _e("ship", "vehicles", "a ship creaks on the water", "a creaking ship", "water"),
    _e("machine", "machines", "a machine hums|machinery rumbles", "a humming machine|machinery"),
    _e("factory", "machines", "factory machines clatter", "factory noise", "machine"),
    _e("siren", "signals", "an alarm sounds", "an alarm", "alarm"),
    _e("beep", "signals", "something beeps", "a beep|beeping", "electronic"),
    _e("bell", "signals", "a bell rings", "a bell ringing"),
    _e("horn", "signals", "a horn sounds", "a horn blast"),
    _e("whistle", "signals", "someone whistles", "a whistle"),
    _e("click", "signals", "something clicks", "a click"),
    # impacts and weapons
    _e("sword", "weapons", "swords clash|a blade strikes metal", "swords clashing|clashing blades", "metal"),
    _e("bow", "weapons", "an arrow is shot from a bow|an arrow whooshes", "a bow shot|an arrow flying"),
    _e("arrow_hit", "impacts", "an arrow thuds into a target", "an arrow hitting a target"),
    _e("gunshot", "weapons", "a gun fires|a gunshot rings out", "a gunshot|gunfire"),
    _e("punch", "impacts", "a fist hits something", "a punch"),
    _e("thud", "impacts", "something hits the ground with a thud", "a thud"),
    _e("metal_hit", "impacts", "metal clangs", "a metal clang", "metal"),
    _e("wood_hit", "impacts", "wood knocks against wood", "a wooden knock"),
    _e("crash", "impacts", "something crashes and breaks", "a crash"),
    _e("collapse", "impacts", "a building collapses with a rumble", "a building collapsing|falling debris"),
    _e("whoosh", "impacts", "something whooshes past", "a whoosh"),
    _e("magic", "electronic", "a magical shimmer rings out", "a magical shimmer|a sparkling effect"),
    _e("laser", "electronic", "a laser zaps", "a laser zap"),
    # voices that are not words
    _e("scream", "voice", "someone screams", "a scream"),
    _e("groan", "voice", "someone groans in pain", "a pained groan"),
    # music and drums (recorded)
    _e("music", "music", "music plays|a song plays", "music|a song"),
    _e("drum_kick", "drums", "a kick drum thumps", "a kick drum", "drum"),
    _e("drum_snare", "drums", "a snare drum cracks", "a snare drum hit", "drum"),
    _e("hihat", "drums", "a hi-hat ticks", "a hi-hat", "drum,cymbal"),
    _e("cymbal", "drums", "a cymbal crashes", "a cymbal crash", "drum,cymbal"),
    _e("tom", "drums", "a tom drum booms", "a tom drum hit", "drum"),
    _e("clap", "drums", "a hand clap sounds", "a hand clap", "drum"),
    _e("cowbell", "drums", "a cowbell clanks", "a cowbell", "drum"),
    _e("drumkit", "drums", "a drum kit plays", "a drum kit playing", "drum"),
    _e("bass", "instruments", "a deep bass note plays", "a deep bass note", "bass"),
    _e("synth", "electronic", "an electronic tone sounds", "an electronic tone", "synth"),
    _e("ambience", "ambience", "an outdoor ambience hums", "outdoor ambience"),
    _e("speech", "speech", "someone speaks", "someone speaking|speech", "voice"),
    # added with ufoai-sound, megaglest-data, openarena-data, warzone2100-data (several are also synth recipes,
    # so recorded and synthesised clips of one class share its name)
    _e("footsteps_tile", "footsteps", "someone walks on a tiled floor|footsteps click across tiles",
       "footsteps on tiles|steps on a tiled floor", "footsteps"),
    _e("footsteps_metal", "footsteps", "someone walks on a metal floor|boots clank on metal",
       "footsteps on metal|boots clanking on a metal floor", "footsteps,metal"),
    _e("footsteps_carpet", "footsteps", "someone walks softly on carpet", "muffled footsteps on carpet", "footsteps"),
    _e("footsteps_water", "footsteps", "someone wades through shallow water|feet splash through a puddle",
       "footsteps splashing through water|wading through water", "footsteps,water"),
    _e("truck_idle", "vehicles", "a diesel engine idles|a heavy diesel engine rumbles at idle",
       "an idling diesel engine|a rumbling diesel motor", "engine,truck"),
    _e("steam_hiss", "machines", "steam hisses from a valve|a pipe vents steam", "hissing steam|a steam vent", "hiss,steam"),
    _e("electric_spark", "machines", "electricity sparks and crackles|a live wire sparks",
       "crackling electric sparks|sparking electricity", "electronic"),
    _e("electric_hum", "machines", "electrical equipment hums|a transformer buzzes", "an electrical hum|mains hum",
       "electronic,hum"),
    _e("electric_fan", "domestic", "a fan whirs|a big fan turns and hums", "a whirring fan|a spinning fan", "machine,fan"),
    _e("tv_static", "signals", "a television hisses with static", "TV static|white noise from a TV", "electronic"),
    _e("door_creak", "domestic", "a door creaks|old hinges creak", "a creaking door|the creak of hinges", "door,creak"),
    _e("glass_breaking", "impacts", "glass shatters|a window smashes|a pane of glass breaks",
       "breaking glass|shattering glass", "glass,impact"),
    _e("wood_breaking", "impacts", "wood splinters and breaks|a wooden crate smashes",
       "splintering wood|a wooden box breaking", "wood,impact"),
    _e("fountain", "water", "a fountain splashes", "a splashing fountain", "water"),
    _e("forest_day", "ambience", "birds sing in a forest on a calm day|a forest is alive with birdsong",
       "a forest in the daytime|birdsong in the woods", "bird,forest"),
    _e("night_ambience", "ambience", "crickets and night creatures call in the dark|a quiet night hums with insects",
       "a night-time countryside ambience|the sounds of a warm night", "insect,night"),
    _e("hawk", "animal", "a hawk screeches overhead|a bird of prey cries", "a screeching hawk|the cry of a hawk", "bird"),
    _e("gun_reload", "weapons", "someone reloads a gun|a magazine clicks into a gun", "a gun being reloaded", "gun,click"),
    _e("welding", "tools", "someone welds metal with a crackling arc|a welder sizzles", "arc welding|a welding torch",
       "metal,machine"),
    _e("cannon", "weapons", "a cannon fires|a heavy gun booms", "a cannon shot|the boom of a cannon", "gun"),
]
EVENTS: dict[str, Event] = {ev.name: ev for ev in _EVENT_LIST}

# Instruments get their events generated: "a violin plays", "a violin playing".
_INSTRUMENTS = ("accordion banjo bongo castanets cello clarinet flute guitar electric_guitar harmonica harp "
                "organ piano saxophone tambourine timpani triangle trombone trumpet tuba violin xylophone "
                "maracas bassoon gong marimba choir sitar tabla").split()
for _name in _INSTRUMENTS:
    _label = _name.replace("_", " ")
    _art = "an" if _label[0] in "aeiou" else "a"
    _fam = "drums" if _name in ("bongo", "castanets", "tambourine", "timpani", "maracas", "tabla") else "instruments"
    EVENTS[_name] = Event(_name, _fam, (f"{_art} {_label} plays", f"someone plays {_art} {_label}"),
                          (f"{_art} {_label} playing", f"{_art} {_label}"), ("music", "instrument"))

FAMILIES = sorted({ev.family for ev in EVENTS.values()})

# Sounds that go on: a clip of one of these can be looped to fill a 5-10 s request, and its captions never
# say "briefly" (issue 20, item 4). Synth recipes declare the same with ``continuing=True``.
CONTINUING = frozenset(
    "river river_fast waterfall waves rain wind wind_leaves storm fire ambience crickets bee mosquito factory machine "
    "mill vacuum washing_machine helicopter plane applause forest_day night_ambience frog birds electric_hum "
    "electric_fan fountain truck_idle tv_static steam_hiss clock heartbeat bubbles".split())
# One-shot sounds that people ask to hear "again and again" (a dog barking, a phone ringing, knocking).
REPEATING = frozenset(
    "dog cat cow sheep goat pig horse chicken rooster duck goose owl crow birds peacock elephant lion tiger bear "
    "wolf camel donkey frog monkey deer seal hawk knock bell beep horn telephone hammer chopping pickaxe whistle "
    "cowbell clap camera drip glass metal_hit wood_hit".split())

# (source or "*", regex on the lower-cased path, event name or None to skip).
# Source rules come first; the keyword rules at the end apply to every source.
_RULES: list[tuple[str, str, str | None]] = [
    ("0ad-data", r"^audio/(interface|voice/.*/(civ_)?(.*_)?(select|order|trained)|actor/.*select|actor/.*order)", None),
    ("0ad-data", r"^audio/music/", "music"),
    ("0ad-data", r"^audio/voice/", "speech"),
    ("0ad-data", r"river_(fast|raging)", "river_fast"),
    ("0ad-data", r"dayscape|amb_(farm|port|trade)", "ambience"),
    ("0ad-data", r"wave", "waves"),
    ("0ad-data", r"snowstorm|windstorm", "storm"),
    ("0ad-data", r"cattle", "cow"),
    ("0ad-data", r"attack/fire/", "fire"),
    ("0ad-data", r"/(mstep|hoof)|mounted/movement", "horse_gallop"),
    ("0ad-data", r"(hstep|fs_)?(dirt|step).*run|running", "footsteps_run"),
    ("0ad-data", r"con_wood|lumber", "chopping"),
    ("0ad-data", r"mine_|con_stone", "pickaxe"),
    ("0ad-data", r"hoe|gather_field", "digging"),
    ("0ad-data", r"foraging|gather_fruit", "wind_leaves"),
    ("0ad-data", r"siegeprojectilehit|building_collapse|explode_debris", "collapse"),
    ("0ad-data", r"fleshimp|fleshstab|sling_(stone|wood)", "thud"),
    ("0ad-data", r"shield_metal|sling_metal|arrow_metal", "metal_hit"),
    ("0ad-data", r"shield_wood|arrow_wood", "wood_hit"),
    ("0ad-data", r"impact/arrow", "arrow_hit"),
    ("0ad-data", r"musket", "gunshot"),
    ("0ad-data", r"(arrowfly|bow_attack|jav_attack|ballist|onager_shooting|sling)", "bow"),
    ("0ad-data", r"fauna/death/animal", "creature"),
    ("0ad-data", r"human/death", "groan"),
    ("0ad-data", r"gate|ram_", "wood_hit"),
    ("tuxpaint-stamps-default", r"_desc(_[a-z]+)?\.ogg$|(^|/)symbols/", "speech"),
    ("tuxpaint-stamps-default", r"_(af|ar|be|bg|ca|cs|da|de|el|en|es|eu|fi|fr|ga|gl|he|hr|hu|id|it|ja|ko|lt|nb|nl|nn|"
                                r"pl|pt|ro|ru|sk|sl|sq|sr|sv|tr|uk|vi|zh)(_[a-z]+)?\.ogg$", "speech"),
    ("tuxpaint-stamps-default", r"seasonal/|clothes/|town/|space/|food/|military/|symbols/", None),
    ("hedgewars-data", r"^sounds/voices/", "speech"),
    ("hedgewars-data", r"^music/", "music"),
    ("hedgewars-data", r"^(?!sounds/)", None),
    ("hedgewars-data", r"/[1-9][a-g]\.ogg$", "xylophone"),
    ("hedgewars-data", r"hell|hog|cake|egg|melon|tardis|portal|ufo|crate|skip|sudden|extratime|"
                       r"invulnerable|lowgravity|placed|custom|denied|countdown|ropeatt|roperel", None),
    ("asterisk-core-sounds-en-wav", r".", "speech"),
    ("widelands-data", r"(^|/)music/|lobby|message|click|construction|military|goldspin|weaver|winebubble|beerbubble|"
                       r"/taverns/|falling_tools|critters/duck", None),
    ("widelands-data", r"moose|stag", "deer"),
    ("widelands-data", r"coyote", "wolf"),
    ("widelands-data", r"farm_animal|/ox", "cow"),
    ("widelands-data", r"stonecut|stonemason|stonegrind|mortar", "pickaxe"),
    ("widelands-data", r"furnace|fizzle", "fire"),
    ("widelands-data", r"goldping|ironping|smith|sharpening", "smithing"),
    ("widelands-data", r"fisher", "splash"),
    ("widelands-data", r"scythe|blackwood", "chopping"),
    ("sonic-pi-samples", r"^(loop_|ambi_|guit_|misc_|glitch_|tabla_|vinyl_|mehackit_|perc_|bass_|sn_|elec_|bd_|drum_)", "*sonic"),
    ("wesnoth-1.16-data", r"button|checkbox|slider|select|chat|join|leave|receive|arrive|contract|expand|gold|"
                          r"gamestart|timer|heal|potion|petrified|slowed|poison|entangle|net\.|miss|ink|mud|"
                          r"wardrums|magic-holy|lich|skeleton|naga|merm|ghoul|squishy|ugg", None),
    ("wesnoth-1.16-data", r"human-(female-)?(old-)?(die|hit)|dwarf-|elf-hit|orc-|goblin|troll|ogre", "groan"),
    ("wesnoth-1.16-data", r"drake|gryphon|tusker|hiss|bite|claws|pincers|tail", "creature"),
    ("wesnoth-1.16-data", r"lightning|thunderstick", "thunder"),
    ("wesnoth-1.16-data", r"magic|faerie|wail", "magic"),
    ("wesnoth-1.16-data", r"mace|club|staff|flail|fist", "thud"),
    ("wesnoth-1.16-data", r"spear|dagger|knife|hatchet|axe|torch|dart|sling", "whoosh"),
    ("gcompris-qt-data", r"voices-|/voices/|intro|africa|america|australia|ireland|italy|japan|mexico|middleeast|"
                         r"beethoven|weird|lapause|silence|tuxok|youcannot|completetask|bonus|win\.|audioclick|"
                         r"flip|scroll|slide|smudge|darken|eraser|brush|dot\.|dash\.|bleep|apert|tambourine", None),
    ("gcompris-qt-data", r"xylofon", "xylophone"),
    ("gcompris-qt-data", r"guitar_(son|melody)", "guitar"),
    ("gcompris-qt-data", r"flute", "flute"),
    ("gcompris-qt-data", r"factory", "factory"),
    ("gcompris-qt-data", r"gong", "gong"),
    ("gcompris-qt-data", r"fireball", "whoosh"),
    ("gcompris-qt-data", r"hits_|object_falling", "thud"),
    ("gcompris-qt-data", r"harbor", "waves"),
    ("gcompris-qt-data", r"money", "coins"),
    ("gcompris-qt-data", r"ring_01", "bell"),
    ("gcompris-qt-data", r"icy_walk", "footsteps_snow"),
    ("gcompris-qt-data", r"water_fill", "splash"),
    ("gcompris-qt-data", r"realrainbow", "magic"),
    # ufoai-sound: paths "sound/<folder>/<name>.ogg"
    ("ufoai-sound", r"^sound/footsteps/wood", "footsteps_wood"), ("ufoai-sound", r"^sound/footsteps/grass", "footsteps_grass"),
    ("ufoai-sound", r"^sound/footsteps/gravel", "footsteps_gravel"), ("ufoai-sound", r"^sound/footsteps/sand", "footsteps_sand"),
    ("ufoai-sound", r"^sound/footsteps/snow", "footsteps_snow"), ("ufoai-sound", r"^sound/footsteps/stone", "footsteps_rock"),
    ("ufoai-sound", r"^sound/footsteps/(tile|linoleum)", "footsteps_tile"),
    ("ufoai-sound", r"^sound/footsteps/metal", "footsteps_metal"), ("ufoai-sound", r"^sound/footsteps/carpet", "footsteps_carpet"),
    ("ufoai-sound", r"^sound/footsteps/dirt", "footsteps"), ("ufoai-sound", r"^sound/footsteps/(splash|water_)", "footsteps_water"),
    ("ufoai-sound", r"^sound/ambience/(fire|smallfire|firesoft)", "fire"), ("ufoai-sound", r"^sound/ambience/thunder", "thunder"),
    ("ufoai-sound", r"^sound/ambience/waterfontain", "fountain"), ("ufoai-sound", r"^sound/ambience/cricket", "crickets"),
    ("ufoai-sound", r"^sound/ambience/arcticwind", "wind"), ("ufoai-sound", r"^sound/ambience/steam", "steam_hiss"),
    ("ufoai-sound", r"^sound/ambience/sparks", "electric_spark"), ("ufoai-sound", r"^sound/ambience/tv_static", "tv_static"),
    ("ufoai-sound", r"^sound/ambience/hum", "electric_hum"), ("ufoai-sound", r"^sound/ambience/(machine1|minepump)", "machine"),
    ("ufoai-sound", r"^sound/doors/creak", "door_creak"), ("ufoai-sound", r"^sound/doors/", "door"),
    ("ufoai-sound", r"^sound/misc/breakglass", "glass_breaking"), ("ufoai-sound", r"^sound/misc/breakwood", "wood_breaking"),
    ("ufoai-sound", r"^sound/misc/breakmetal", "crash"), ("ufoai-sound", r"^sound/misc/breakelectric", "electric_spark"),
    ("ufoai-sound", r"^sound/impact/water", "splash"),
    ("ufoai-sound", r"^sound/weapons/bullet-(pistol|rifle|sniper|shotgun|smg)", "gunshot"),
    ("ufoai-sound", r"^sound/weapons/explosion-(grenade|rocket)|^sound/weapons/explosion\.", "explosion"),
    ("ufoai-sound", r"^sound/weapons/reload-(pistol|rifle|shotgun|smg|sniper)", "gun_reload"),
    ("ufoai-sound", r"^sound/weapons/melee-swoosh", "whoosh"),
    ("ufoai-sound", r"^sound/civilians/.*scream", "scream"), ("ufoai-sound", r"^sound/civilians/", "groan"),
    ("ufoai-sound", r"^sound/ugv/diesel-(idle|move)", "truck_idle"),
    ("ufoai-sound", r".", None),
    # megaglest-data: paths relative to usr/share/games/megaglest
    ("megaglest-data", r"^data/core/water_sounds/", "splash"),
    ("megaglest-data", r"^tilesets/.*/sounds/rain", "rain"), ("megaglest-data", r"^tilesets/.*/sounds/(night|nightime)", "night_ambience"),
    ("megaglest-data", r"^tilesets/.*/sounds/(day|sunny_day|desertday|good_morning)", "forest_day"),
    ("megaglest-data", r"^tilesets/.*/sounds/wind", "wind"), ("megaglest-data", r"^tilesets/.*/sounds/owl", "owl"),
    ("megaglest-data", r"^tilesets/.*/sounds/rooster", "rooster"), ("megaglest-data", r"^tilesets/.*/sounds/chicken", "chicken"),
    ("megaglest-data", r"^tilesets/.*/sounds/wolf", "wolf"), ("megaglest-data", r"^tilesets/.*/sounds/hawk", "hawk"),
    ("megaglest-data", r"^tilesets/.*/sounds/.*cow", "cow"),
    ("megaglest-data", r"commondata/sounds/cow_", "cow"), ("megaglest-data", r"commondata/sounds/pig_", "pig"),
    ("megaglest-data", r"commondata/sounds/anvil", "smithing"), ("megaglest-data", r"commondata/sounds/arrow_hit", "arrow_hit"),
    ("megaglest-data", r"commondata/sounds/horseman_walk", "horse_gallop"),
    ("megaglest-data", r"/units/[a-z_]*/sounds/sheep", "sheep"),
    ("megaglest-data", r"/units/(swordman|swordman_berserk)/sounds/swordman_attack", "sword"),
    ("megaglest-data", r".", None),
    # openarena-data: paths "sound/..."
    ("openarena-data", r"^sound/player/footsteps/(step|boot)", "footsteps"),
    ("openarena-data", r"^sound/player/footsteps/(clank|mech)", "footsteps_metal"),
    ("openarena-data", r"^sound/player/footsteps/splash", "footsteps_water"),
    ("openarena-data", r"^sound/world/fire", "fire"), ("openarena-data", r"^sound/world/(wind|demonwind|painwind)", "wind"),
    ("openarena-data", r"^sound/world/waterfall", "waterfall"), ("openarena-data", r"^sound/world/fan", "electric_fan"),
    ("openarena-data", r"^sound/world/drops", "drip"), ("openarena-data", r"^sound/world/neonhum", "electric_hum"),
    ("openarena-data", r"^sound/world/(machinerydrone|tim_machine|tim_pump)", "machine"),
    ("openarena-data", r"^sound/world/(electro|curnt)", "electric_spark"),
    ("openarena-data", r"^sound/weapons/(machinegun|shotgun)/", "gunshot"),
    ("openarena-data", r".", None),
    # warzone2100-data: paths "audio/sfx/..."
    ("warzone2100-data", r"explons/(lrgexpl|smlexpl|atnkexpl|mpodexpl)", "explosion"),
    ("warzone2100-data", r"explons/bldfall", "collapse"), ("warzone2100-data", r"weapons/(mgbar|mgheavy|asltmg|mgtower)", "gunshot"),
    ("warzone2100-data", r"weapons/(smlcan|medcan|lrgcan|hivelcan|rapdcan)", "cannon"),
    ("warzone2100-data", r"weapons/weld", "welding"), ("warzone2100-data", r"weapons/splash", "splash"),
    ("warzone2100-data", r"building/(oilpump|powerhum)", "machine"), ("warzone2100-data", r"building/steam", "steam_hiss"),
    ("warzone2100-data", r"misc/scream", "scream"),
    ("warzone2100-data", r".", None),
    ("hydrogen-drumkits", r"kick|bass ?drum|bd[_ ]|bassdrum|/bd", "drum_kick"),
    ("hydrogen-drumkits", r"snare|/sn[_ ]|rim|stick", "drum_snare"),
    ("hydrogen-drumkits", r"h(i|)-?h(at)?|hh|hat", "hihat"),
    ("hydrogen-drumkits", r"crash|ride|cymbal|splash|china", "cymbal"),
    ("hydrogen-drumkits", r"tom", "tom"),
    ("hydrogen-drumkits", r"clap", "clap"),
    ("hydrogen-drumkits", r"cowbell", "cowbell"),
    ("hydrogen-drumkits", r".", None),
]
_KEYWORDS: list[tuple[str, str]] = [
    (r"(^|/)speech/", "speech"), (r"(^|/)music/", "music"),
    (r"footstep.*sand|sand.*walk", "footsteps_sand"), (r"fs_snow|snow", "footsteps_snow"),
    (r"fs_grass|footstep.*grass", "footsteps_grass"), (r"gravel", "footsteps_gravel"),
    (r"fs_rock|footstep.*rock", "footsteps_rock"), (r"fs_wood|footstep.*wood", "footsteps_wood"),
    (r"footstep|hstep|steps", "footsteps"), (r"river", "river"), (r"waterfall", "waterfall"),
    (r"rain", "rain"), (r"thunder", "thunder"), (r"windleaves|leaves", "wind_leaves"), (r"wind", "wind"),
    (r"cow|bull|bison|cattle", "cow"), (r"sheep|lamb|ram\b|\bram\.", "sheep"), (r"goat", "goat"),
    (r"pig|boar", "pig"), (r"horse|zebra", "horse"), (r"donkey", "donkey"),
    (r"dog|bark|fox", "dog"), (r"\bcat\b|blackcat|/cat\.", "cat"), (r"chicken|hen", "chicken"),
    (r"rooster|cock", "rooster"), (r"duck|drake|gander|goose", "duck"), (r"owl", "owl"), (r"crow", "crow"),
    (r"bird|quetzal|nandou|tweet", "birds"), (r"peacock", "peacock"), (r"elephant", "elephant"),
    (r"lion", "lion"), (r"tiger", "tiger"), (r"bear", "bear"), (r"wolf", "wolf"), (r"camel|dromedary", "camel"),
    (r"frog", "frog"), (r"cricket|grasshopper", "crickets"), (r"bee\b|bee\.|hornet", "bee"),
    (r"mosquito", "mosquito"), (r"chimp|gorilla|monkey", "monkey"), (r"deer|doe|caribou", "deer"),
    (r"whale|orca", "whale"), (r"dolphin", "dolphin"), (r"sea_lion", "seal"), (r"bat", "bat_wings"),
    (r"splash|droplet", "splash"), (r"drip|drop\.", "drip"), (r"bubble|steam", "bubbles"),
    (r"campfire|flame|fire\.", "fire"), (r"explo", "explosion"), (r"saw", "saw"),
    (r"hammer", "hammer"), (r"woodcut|chop|axe", "chopping"), (r"tree_fall", "tree_fall"),
    (r"pick", "pickaxe"), (r"scissor", "scissors"), (r"drill", "drill"), (r"mill", "mill"),
    (r"door", "door"), (r"knock", "knock"), (r"kettle", "kettle"), (r"vacuum", "vacuum"), (r"toilet", "toilet"),
    (r"washing", "washing_machine"), (r"clock|tick", "clock"), (r"glass|bottle", "glass"),
    (r"camera|shutter", "camera"), (r"applau", "applause"), (r"laugh", "laugh"), (r"heart", "heartbeat"),
    (r"car\b|car\.|engine", "car"), (r"train", "train"), (r"helicopter", "helicopter"), (r"plane", "plane"),
    (r"ship", "ship"), (r"alarm|siren", "siren"), (r"beep", "beep"), (r"bell", "bell"), (r"horn", "horn"),
    (r"whistle", "whistle"), (r"sword", "sword"), (r"bow|arrow|crossbow", "bow"), (r"gun|shotgun|musket", "gunshot"),
    (r"punch|baseballbat", "punch"), (r"metal", "metal_hit"), (r"crash", "crash"), (r"collapse|cave-in|rumble", "collapse"),
    (r"swish|whoosh|swoosh", "whoosh"), (r"laser|sinegun|ice_beam", "laser"), (r"scream|shriek", "scream"),
    (r"groan|ooff|ouch", "groan"), (r"cymbal", "cymbal"), (r"drum_?kit|drumkit", "drumkit"),
    (r"snare", "drum_snare"), (r"kick", "drum_kick"), (r"birds|morning", "birds"), (r"night", "crickets"),
] + [(rf"{name}|{name.replace('_', ' ')}", name) for name in _INSTRUMENTS] + [(r"xylo", "xylophone")]
_SONIC = [(r"^bd_|drum_bass|drum_heavy_kick|elec_.*kick", "drum_kick"),
          (r"^sn_|drum_snare|elec_.*snare", "drum_snare"), (r"drum_cymbal|drum_splash|elec_cymbal", "cymbal"),
          (r"drum_tom|elec_fuzz_tom", "tom"), (r"drum_cowbell", "cowbell"), (r"drum_roll", "drum_snare"),
          (r"^tabla_", "tabla"), (r"^guit_", "guitar"), (r"^bass_", "bass"), (r"ambi_piano", "piano"),
          (r"ambi_choir", "choir"), (r"^loop_", "drumkit"), (r"elec_|glitch_|ambi_", "synth"),
          (r"misc_crow", "crow"), (r"vinyl_|misc_|perc_|mehackit_", None)]

_COMPILED = [(s, re.compile(p), ev) for s, p, ev in _RULES]
_KW_COMPILED = [(re.compile(p), ev) for p, ev in _KEYWORDS]
_SONIC_COMPILED = [(re.compile(p), ev) for p, ev in _SONIC]


def event(name: str) -> Event:
    """The event called ``name``; raises KeyError naming it when unknown."""
    try:
        return EVENTS[name]
    except KeyError:
        raise KeyError(f"unknown event {name!r}") from None


def label_for(source: str, path: str) -> Event | None:
    """The event of the clip at ``path`` inside ``source``, or None when the table has no label for it."""
    p = path.lower()
    for src, rx, ev in _COMPILED:
        if src not in (source, "*") or not rx.search(p):
            continue
        if ev == "*sonic":
            base = p.rsplit("/", 1)[-1]
            for rx2, ev2 in _SONIC_COMPILED:
                if rx2.search(base):
                    return EVENTS[ev2] if ev2 else None
            return None
        return EVENTS[ev] if ev else None
    base = p.rsplit("/", 2)[-2:]  # the folder and the file name carry the label
    tail = "/".join(base)
    for rx, ev in _KW_COMPILED:
        if rx.search(tail):
            return EVENTS[ev]
    return None
