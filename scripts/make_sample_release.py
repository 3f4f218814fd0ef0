"""Write the bundled sample LAION release under data/sample/laion_sample/ (two Parquet parts).

Hand-written captions in the style of LAION-400M alt-texts, chosen to exercise the paper's
pipeline: the brand *Puma* vs the animal, *crane* the bird vs the machine, nested lemmas (*sea
lion* ⊃ *lion*), multi-label captions, NSFW tags of all three values, empty and null captions,
non-ASCII text.  Deterministic: re-running it writes identical files.

    python scripts/make_sample_release.py
"""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1] / "data" / "sample" / "laion_sample"

ANIMALS = [
    "golden retriever puppy playing in the grass",
    "a golden retriever sitting on the porch",
    "Portrait of a golden retriever dog at sunset",
    "tabby cat sleeping on a windowsill",
    "Cute tabby kitten with green eyes",
    "Egyptian cat statue in bronze",
    "red fox hunting in the snow",
    "A red fox cub peeking from its den",
    "Arctic fox in winter coat, Svalbard",
    "African elephant crossing the river in Kenya",
    "African elephant family at the waterhole",
    "Indian elephant carrying logs in Kerala",
    "king penguin colony on South Georgia",
    "Emperor penguins huddling in Antarctica",
    "a great white shark breaching off Seal Island",
    "Great white shark swimming near a cage diver",
    "goldfish in a round glass bowl",
    "Orange goldfish swimming in the aquarium",
    "bald eagle perched on a pine branch",
    "Bald eagle in flight over the lake",
    "Monarch butterfly on purple coneflower",
    "monarch butterfly resting on milkweed",
    "ladybug on a green leaf macro photograph",
    "Close-up of a ladybug crawling on a daisy",
    "tree frog clinging to a branch in the rainforest",
    "green tree frog on a banana leaf",
    "loggerhead turtle swimming over a coral reef",
    "hummingbird hovering at a feeder",
    "The zebra herd in the Serengeti at dawn",
    "zebra foal standing next to its mother",
    "giant panda eating bamboo at Chengdu",
    "Giant panda cub rolling in the grass",
    "koala sleeping in a eucalyptus tree",
    "a koala bear hugging a tree trunk",
    "hippopotamus yawning in the river",
    "Hippopotamus submerged in muddy water",
    "tiger resting in the shade of a tree",
    "Bengal tiger walking through tall grass",
    "jaguar lying on a tree branch in the Pantanal",
    "cheetah running at full speed on the savanna",
    "A cheetah mother with her cubs",
    "snow leopard on a rocky ledge in the Himalayas",
    "brown bear catching salmon in Alaska",
    "American black bear foraging for berries",
    "ice bear on drifting sea ice",
    "polar bear swimming in the Arctic ocean",
    "timber wolf howling at the moon",
    "Grey wolf pack in Yellowstone",
    "hyena laughing at the camera in Botswana",
    "meerkat standing guard in the Kalahari",
    "Chimpanzee grooming another chimpanzee",
    "orangutan mother and baby in Borneo",
    "gorilla silverback sitting in the forest",
    "flamingo standing on one leg in the lagoon",
    "Pink flamingos feeding in shallow water",
    "ostrich running across the desert",
    "peacock displaying its tail feathers",
    "Indian peacock in full display",
    "jellyfish glowing in the dark aquarium",
    "starfish on the sandy beach at low tide",
    "sea anemone with a clownfish hiding inside",
    "hermit crab in a spiral shell",
    "American lobster on ice at the fish market",
    "tarantula crawling on a rock",
    "scorpion glowing under UV light",
    "the garden spider in its web covered with dew",
    "dragonfly on a reed by the pond",
    "honeybee collecting pollen from lavender",
    "Bee on a sunflower, summer morning",
]
PUMA = [
    ("PUMA Suede Classic sneakers black white", "brand"),
    ("Puma Men's Running Shoes Size 10", "brand"),
    ("puma running shoes red mesh trainers", "brand"),
    ("Puma logo t-shirt cotton slim fit", "brand"),
    ("puma sports bag with shoe compartment", "brand"),
    ("Puma Future Z football boots", "brand"),
    ("Vintage Puma track jacket 90s", "brand"),
    ("puma in the mountains of Patagonia", "animal"),
    ("A puma resting on a rock ledge in Torres del Paine", "animal"),
    ("cougar stalking prey in the forest at dusk", "animal"),
    ("Mountain lion caught on trail camera in California", "animal"),
    ("cougar cub with blue eyes and spotted coat", "animal"),
    ("wild puma walking along a dirt road", "animal"),
]
CRANE = [
    ("sandhill crane in flight over the marsh", "bird"),
    ("Whooping crane wading through the wetland", "bird"),
    ("red-crowned crane dancing in the snow, Hokkaido", "bird"),
    ("crane bird standing in a rice paddy", "bird"),
    ("tower crane at a construction site downtown", "machine"),
    ("Liebherr crane lifting steel beams", "machine"),
    ("crane operator training course certificate", "machine"),
    ("Harbour container crane loading a ship at dusk", "machine"),
    ("origami paper crane folded from red paper", "other"),
]
NESTED = [
    "sea lion basking on the pier in San Francisco",
    "California sea lion on the rocks at La Jolla",
    "Sea lion pup sleeping on the beach in the Galapagos",
    "sea lion and lion plush toys for kids",
    "lion resting in the savanna grass",
    "Male lion with a big mane roaring",
    "a lion cub playing with its mother",
    "The lion king musical poster",
    "African lion walking at sunset in the Maasai Mara",
    "snow leopard and leopard side by side comparison",
    "tiger shark swimming over the reef",
    "tiger and lion at the zoo enclosure",
    "killer whale jumping out of the water",
    "grey whale breaching near the boat",
    "Ice cream cone with chocolate sprinkles",
    "ice cream sundae with whipped cream and a cherry",
]
OBJECTS = [
    "espresso in a white cup on a wooden table",
    "Fresh espresso shot with crema",
    "cheeseburger with fries and a pickle",
    "homemade pizza with basil and mozzarella",
    "Pepperoni pizza slice on a paper plate",
    "bagel with cream cheese and smoked salmon",
    "pretzel with coarse salt",
    "a bowl of guacamole with tortilla chips",
    "granny smith apples in a basket",
    "fresh strawberry on a white background",
    "Banana bunch isolated on white",
    "pineapple on the beach with sunglasses",
    "acoustic guitar leaning against a brick wall",
    "Electric guitar Fender Stratocaster sunburst",
    "grand piano in a concert hall",
    "violin and bow on sheet music",
    "Vintage typewriter on a desk with paper",
    "old typewriter keyboard close-up",
    "laptop on a desk next to a coffee mug",
    "Wireless computer keyboard and mouse set",
    "red umbrella in the rain on a city street",
    "Umbrella with polka dots for kids",
    "Backpack for school, waterproof, 30L",
    "hiking backpack on a mountain summit",
    "A steam locomotive pulling passenger cars",
    "Vintage steam locomotive at the railway museum",
    "school bus parked in front of the school",
    "Yellow school bus on a country road",
    "fire engine with ladder at the station",
    "red fire engine responding to a call",
    "ambulance with flashing lights at night",
    "police van parked on the street",
    "Canoe on a calm lake at sunrise",
    "canoe trip in the Boundary Waters",
    "container ship in the harbor at dusk",
    "airliner taking off from the runway",
    "A mountain bike on a forest trail",
    "mountain bike racing downhill",
    "tractor plowing the field in spring",
    "Vintage red tractor in the barn",
    "lighthouse on a rocky coast at sunset",
    "Lighthouse in Maine with crashing waves",
    "suspension bridge in the fog",
    "Golden Gate suspension bridge at night",
    "castle on a hill in Bavaria",
    "Medieval castle with a moat and drawbridge",
    "church interior with stained glass windows",
    "the mosque at dawn with minarets",
    "yurt camp in the Mongolian steppe",
    "Teddy bear sitting on a wooden chair",
    "teddy bear picnic for children",
    "alarm clock on the nightstand at 7 am",
    "wall clock with roman numerals",
    "digital watch with a black rubber strap",
    "sunglasses on the sand at the beach",
    "Aviator sunglasses gold frame",
    "running shoe with a breathable mesh upper",
    "Cowboy hat made of straw",
    "cowboy hat and boots on a ranch fence",
    "bow tie and tuxedo for the wedding",
    "red bow tie, silk, adjustable",
    "wooden rocking chair on the porch",
    "folding chair for camping",
    "a four-poster bed in a luxury hotel room",
    "bookcase full of old books",
    "Oval_drum_small2",
    "drum kit on stage under blue lights",
    "snare drum and drumsticks",
    "soccer ball on the grass field",
    "Basketball going through the hoop",
    "tennis ball and racket on a clay court",
    "volleyball on the beach at sunset",
    "a pool table in a dark bar",
    "Water bottle, stainless steel, 1 litre",
    "beer bottle with condensation",
    "wine bottle and two glasses on a table",
    "coffee mug with a heart drawing",
    "frying pan with eggs and bacon",
    "teapot with floral pattern, porcelain",
    "toaster with two slices of bread",
    "microwave oven in a modern kitchen",
    "Washing machine front load 8 kg",
    "refrigerator with the door open",
    "vacuum cleaner on a carpet",
    "Christmas stocking hanging on the fireplace",
    "jack-o'-lantern carved pumpkin glowing",
    "Carved jack o lantern on the porch for Halloween",
    "Jigsaw puzzle with a missing piece",
    "chain saw cutting a log",
    "Hammer and nails on a wooden board",
    "screwdriver set in a case",
    "padlock on a rusty gate",
    "Combination lock for gym locker",
    "a paper towel roll on the counter",
    "toilet tissue 12 rolls pack",
    "Pill bottle with white tablets spilling",
    "stethoscope on a doctor's desk",
    "Syringe and vaccine vial",
    "The space shuttle launching from Cape Canaveral",
    "Space shuttle Atlantis on display",
    "volcano erupting with lava at night",
    "Volcano Mount Fuji with snow cap",
    "coral reef with colorful fish",
    "alp meadow with cows and wildflowers",
    "a valley with a river and green hills",
    "geyser erupting in Yellowstone",
    "Seashore with waves and rocks",
    "the cliff above the ocean at Big Sur",
    "sandbar at low tide",
]
UNRELATED = [
    "Wedding invitation template with gold foil",
    "Abstract watercolor background texture",
    "Quote: be the change you wish to see",
    "Free shipping on orders over $50",
    "Map of Europe with country borders",
    "Logo design for a tech startup",
    "Happy birthday card with balloons",
    "Minimalist living room interior design",
    "Sunset over the ocean horizon",
    "Business man in a suit shaking hands",
    "Woman doing yoga on the beach",
    "Family having dinner together",
    "Vector illustration of a city skyline",
    "Infographic about climate change",
    "Spreadsheet on a computer screen",
    "Model posing in a red evening gown",
    "Product photo 1234 - front view",
    "IMG_20190814_123456.jpg",
    "DSC_0042",
    "Calendar 2020 printable",
    "Lorem ipsum dolor sit amet",
    "Kitchen renovation before and after",
    "Car interior leather seats",
    "Smartphone case with glitter",
    "Diamond engagement ring white gold",
]
NON_ASCII = [
    "Café au lait avec un croissant — Paris",
    "koala 🐨 im Zoo von Sydney",
    "Golden retriever im Schnee ❄️",
    "ジャイアントパンダ giant panda 上野動物園",
    "Bald eagle — symbol of freedom 🦅",
    "Naïve painting of a lighthouse",
    "consommé de volaille, bouillon clair",
    "pizza napoletana, forno a legna 🍕",
]


def build() -> pl.DataFrame:
    rng = random.Random(20230615)
    texts: list[str | None] = []
    texts += ANIMALS + [t for t, _ in PUMA] + [t for t, _ in CRANE] + NESTED + OBJECTS + UNRELATED + NON_ASCII
    # Shop- and stock-photo-style variants of a random third of the captions, as LAION has many.
    suffixes = [
        " - Stock Photo",
        " | Etsy",
        " : Free Image",
        " (photo by a reader)",
        ", high resolution",
        " #nature",
    ]
    variants = [t + rng.choice(suffixes) for t in rng.sample(texts, k=len(texts) // 3)]
    texts += variants
    texts += ["", "   ", None, None, ""]
    rng.shuffle(texts)
    nsfw = rng.choices(["UNLIKELY", "UNSURE", "NSFW"], weights=[85, 10, 5], k=len(texts))
    # Make sure every NSFW value appears on captions that would otherwise be selected.
    for i, t in enumerate(texts):
        if t and "golden retriever puppy" in t:
            nsfw[i] = "NSFW"
        if t and "red fox hunting" in t:
            nsfw[i] = "UNSURE"
    n = len(texts)
    return pl.DataFrame(
        {
            "SAMPLE_ID": pl.Series(range(100_000_001, 100_000_001 + n), dtype=pl.Int64),
            "URL": [f"https://images.example.org/laion-sample/{i:05d}.jpg" for i in range(n)],
            "TEXT": texts,
            "HEIGHT": [rng.choice([256, 375, 480, 600, 768, 1024]) for _ in range(n)],
            "WIDTH": [rng.choice([256, 400, 500, 640, 800, 1200]) for _ in range(n)],
            "LICENSE": [rng.choice(["?", "?", "?", "creative commons"]) for _ in range(n)],
            "NSFW": nsfw,
            "similarity": [round(rng.uniform(0.3, 0.45), 6) for _ in range(n)],
        },
        schema_overrides={"TEXT": pl.String},
    )


def main() -> None:
    frame = build()
    ROOT.mkdir(parents=True, exist_ok=True)
    half = frame.height // 2
    for i, part in enumerate((frame.head(half), frame.tail(frame.height - half))):
        path = ROOT / f"part-{i:05d}.parquet"
        part.write_parquet(path, statistics=False)
        print(f"wrote {path} ({part.height} rows)")


if __name__ == "__main__":
    main()
