"""Everyday English names for catalog values (built-in synonyms).

Keys are canonical catalog values; a synonym is used only when its canonical value exists in the
served catalog, so this table never invents products. A shop adds or overrides entries with its
own JSON file (``{"article_type": {"Kurtas": ["kameez"]}, ...}``) through the settings.
A value may be a list: the first canonical value is preferred, the rest are also accepted
("rucksack" -> Backpacks, also Rucksacks).
"""
from __future__ import annotations

ARTICLE_TYPE_SYNONYMS: dict[str, list[str]] = {
    "Tshirts": ["t-shirt", "t shirt", "tshirt", "tee", "tee shirt", "tees", "polo", "polo tee",
                "polo t-shirt", "polo shirt", "polo shirts", "polos", "polo tshirt", "jersey", "graphic tee",
                "crew neck", "v-neck"],
    "Shirts": ["shirt", "button-down", "button down", "button-down shirt", "button down shirt",
               "button-up", "button up shirt", "dress shirt", "formal shirt", "oxford shirt",
               "flannel", "flannel shirt", "check shirt", "checked shirt", "denim shirt"],
    "Casual Shoes": ["sneakers", "sneaker", "kicks", "loafers", "loafer", "canvas shoes", "slip-ons",
                     "slip ons", "slip-on shoes", "moccasins", "boat shoes", "plimsolls", "casual shoes",
                     "everyday shoes", "street shoes", "high tops", "low tops", "espadrilles"],
    "Sports Shoes": ["running shoes", "trainers", "athletic shoes", "gym shoes", "runners",
                     "training shoes", "sport shoes", "tennis shoes", "football boots", "cleats",
                     "basketball shoes", "jogging shoes", "walking shoes"],
    "Formal Shoes": ["dress shoes", "oxfords", "oxford shoes", "brogues", "derby shoes", "derbies",
                     "office shoes", "business shoes", "leather shoes", "monk straps", "formal shoe"],
    "Tops": ["top", "blouse", "blouses", "camisole", "cami", "tank top", "crop top", "tube top",
             "halter top", "peplum top"],
    "Kurtas": ["kurta", "kurtas", "kameez"],
    "Kurtis": ["kurti", "kurtis"],
    "Watches": ["watch", "wristwatch", "wrist watch", "timepiece", "chronograph", "analog watch",
                "digital watch", "smartwatch"],
    "Handbags": ["handbag", "hand bag", "purse", "tote", "tote bag", "shoulder bag", "satchel",
                 "hobo bag", "sling bag", "ladies bag", "bucket bag"],
    "Heels": ["heels", "high heels", "pumps", "stilettos", "stiletto", "wedges", "wedge heels",
              "heeled sandals", "platform heels", "kitten heels", "block heels"],
    "Sunglasses": ["sunglasses", "shades", "sunnies", "aviators", "sun glasses", "goggles",
                   "wayfarers"],
    "Sweaters": ["sweater", "jumper", "pullover", "cardigan", "knitwear", "knit", "turtleneck"],
    "Sandals": ["sandal", "sandals", "strappy sandals", "gladiators"],
    "Flip Flops": ["flip flops", "flip-flops", "flipflops", "flip flop", "slippers", "slipper",
                   "chappals", "chappal", "slides", "sliders", "thongs", "house slippers"],
    "Wallets": ["wallet", "billfold", "card holder", "cardholder", "money clip", "coin purse"],
    "Sweatshirts": ["sweatshirt", "hoodie", "hoodies", "hoody", "hooded sweatshirt", "crewneck sweatshirt",
                    "zip hoodie", "fleece"],
    "Belts": ["belt", "belts", "waist belt"],
    "Trousers": ["trousers", "trouser", "pants", "pant", "chinos", "chino", "slacks", "formal pants",
                 "khakis", "cargo pants", "cargos", "dress pants"],
    "Socks": ["socks", "sock", "ankle socks", "crew socks"],
    "Jeans": ["jeans", "denims", "denim jeans", "skinny jeans"],
    "Jackets": ["jacket", "jackets", "coat", "windcheater", "windbreaker", "bomber", "bomber jacket",
                "parka", "rain jacket", "raincoat", "puffer", "puffer jacket", "blazer", "overcoat",
                "gilet", "anorak"],
    "Flats": ["flats", "ballerinas", "ballet flats", "flat shoes", "ballerina", "mojaris", "juttis"],
    "Backpacks": [["rucksack", "Rucksacks"], ["rucksacks", "Rucksacks"], "backpack", "backpacks",
                  "school bag", "schoolbag", "daypack", "knapsack", "bookbag"],
    "Briefs": ["briefs", "brief", "underwear", "undies", "underpants", "panties", "knickers", "hipsters"],
    "Innerwear Vests": ["vest", "vests", "undershirt", "singlet", "inner vest", "banian"],
    "Caps": ["cap", "caps", "baseball cap", "snapback", ["hat", "Hat"], ["hats", "Hat"], "beanie"],
    "Track Pants": ["track pants", "trackpants", "joggers", "jogger", "sweatpants", "jogging pants",
                    "track pant", "sweat pants"],
    "Ties": ["tie", "ties", "necktie", "neckties", "bow tie", "bowtie", "cravat"],
    "Clutches": ["clutch", "clutches", "evening bag", "clutch bag"],
    "Dresses": ["dress", "dresses", "gown", "frock", "maxi dress", "sundress", "maxi", "midi dress"],
    "Mufflers": ["muffler", "mufflers"],
    "Scarves": ["scarf", "scarves"],
    "Stoles": ["stole", "stoles", "shawl"],
    "Skirts": ["skirt", "skirts", "miniskirt", "mini skirt"],
    "Shorts": ["shorts", "bermudas", "bermuda shorts", "half pants", "cargo shorts"],
    "Capris": ["capris", "capri", "capri pants", "three fourths", "cropped pants", "pedal pushers"],
    "Leggings": ["leggings", "legging", "jeggings"],
    "Tights": ["tights"],
    "Stockings": ["stockings", "pantyhose", "nylons"],
    "Laptop Bag": ["laptop bag", "laptop sleeve", "laptop case", "computer bag", "briefcase"],
    "Duffel Bag": ["duffel", "duffle", "duffel bag", "duffle bag", "gym bag", "travel bag", "holdall",
                   "weekender"],
    "Messenger Bag": ["messenger bag", "messenger", "crossbody bag", "cross body bag"],
    "Mobile Pouch": ["mobile pouch", "phone pouch", "phone case", "mobile cover", "phone cover"],
    "Perfume and Body Mist": ["perfume", "perfumes", "fragrance", "scent", "cologne", "body mist",
                              "eau de toilette", "eau de parfum", "body spray"],
    "Deodorant": ["deodorant", "deo", "deodorants", "antiperspirant"],
    "Tracksuits": ["tracksuit", "tracksuits", "track suit", "jogging suit"],
    "Bra": ["bra", "bras", "brassiere", "sports bra"],
    "Gloves": ["gloves", "glove", "mittens"],
    "Umbrellas": ["umbrella", "umbrellas", "parasol"],
    "Cufflinks": ["cufflinks", "cuff links", "cufflink"],
    "Lounge Pants": ["lounge pants", "pyjamas", "pajamas", "pyjama", "pajama", "pj pants"],
    "Lounge Shorts": ["lounge shorts", "sleep shorts", "pyjama shorts"],
    "Boxers": ["boxers", "boxer shorts"],
    "Trunk": ["trunks", "trunk"],
    "Waistcoat": ["waistcoat", "waist coat", "nehru jacket"],
    "Sports Sandals": ["sports sandals", "floaters", "sport sandals", "hiking sandals"],
    "Tunics": ["tunic", "tunics"],
    "Churidar": ["churidar", "churidars"],
    "Sarees": ["saree", "sarees", "sari", "saris"],
    "Dupatta": ["dupatta", "dupattas", "chunni"],
    "Necklace and Chains": ["necklace", "necklaces", "chain", "pendant"],
    "Bracelet": ["bracelet", "bracelets", "bangle", "bangles", "wristband"],
    "Headband": ["headband", "head band", "hairband", "sweatband"],
    "Waist Pouch": ["waist pouch", "fanny pack", "bum bag", "belt bag"],
    "Footballs": ["football", "soccer ball", "footballs"],
    "Shrug": ["shrug", "bolero"],
    "Kurta Sets": ["kurta set", "kurta sets", "kurta pyjama", "salwar suit"],
    "Accessory Gift Set": ["gift set", "accessory gift set"],
    "Fragrance Gift Set": ["fragrance gift set", "perfume gift set"],
    "Travel Accessory": ["travel accessory", "luggage tag", "passport holder", "passport cover"],
    "Hat": ["fedora", "sun hat", "bucket hat", "panama hat"],
}

COLOR_SYNONYMS: dict[str, list[str]] = {
    "Navy Blue": ["navy", "navy blue", "dark blue", "midnight blue", "navy-blue"],
    "Blue": ["blue", "light blue", "sky blue", "royal blue", "baby blue", "cobalt", "azure", "denim blue"],
    "Grey": ["grey", "gray", "slate", "light grey", "light gray", "dark grey", "dark gray"],
    "Off White": ["off white", "off-white", "offwhite", "ivory", "eggshell", "ecru"],
    "Cream": ["cream", "creme"],
    "White": ["white", "snow white"],
    "Black": ["black", "jet black"],
    "Red": ["red", "scarlet", "crimson", "cherry red"],
    "Maroon": ["maroon", "wine", "oxblood"],
    "Burgundy": ["burgundy", "claret"],
    "Purple": ["purple", "violet", "plum"],
    "Lavender": ["lavender", "lilac"],
    "Pink": ["pink", "rose", "hot pink", "blush", "fuchsia"],
    "Magenta": ["magenta"],
    "Green": ["green", "emerald", "forest green", "lime green", "bottle green"],
    "Olive": ["olive", "olive green", "army green", "khaki green"],
    "Sea Green": ["sea green", "mint", "mint green"],
    "Fluorescent Green": ["fluorescent green", "neon green", "lime"],
    "Yellow": ["yellow", "lemon", "canary"],
    "Mustard": ["mustard", "mustard yellow", "ochre"],
    "Orange": ["orange", "tangerine"],
    "Peach": ["peach", "coral", "apricot", "salmon"],
    "Brown": ["brown", "chocolate", "chocolate brown", "dark brown"],
    "Coffee Brown": ["coffee brown", "coffee", "mocha"],
    "Tan": ["tan", "camel", "cognac", "light brown"],
    "Beige": ["beige", "nude beige", "fawn"],
    "Khaki": ["khaki"],
    "Taupe": ["taupe"],
    "Rust": ["rust", "burnt orange"],
    "Teal": ["teal", "teal blue"],
    "Turquoise Blue": ["turquoise", "turquoise blue", "aqua", "cyan"],
    "Charcoal": ["charcoal", "charcoal grey", "charcoal gray"],
    "Grey Melange": ["grey melange", "gray melange", "heather grey", "heather gray", "marl grey"],
    "Silver": ["silver", "silvery"],
    "Steel": ["steel", "stainless steel", "stainless", "gunmetal"],
    "Gold": ["gold", "golden"],
    "Copper": ["copper", "rose gold"],
    "Bronze": ["bronze"],
    "Metallic": ["metallic"],
    "Multi": ["multi", "multicolour", "multicolor", "multi-colour", "multi-color", "multicoloured",
              "multicolored", "colourful", "colorful", "printed multi"],
    "Nude": ["nude"],
    "Skin": ["skin tone"],
    "Mauve": ["mauve"],
}

GENDER_SYNONYMS: dict[str, list] = {
    "Men": ["men", "man", "mens", "men's", "male", "males", "guy", "guys", "gents", "gentlemen",
            "gentleman", "husband", "boyfriend", "father", "dad", "daddy", "brother", "grandfather",
            "grandpa", "uncle", "him", "fiance", "masculine", "hubby", "mans", "menz", "mens'", "gent",
            "gent's", "papa", "granddad"],
    "Women": ["women", "woman", "womens", "women's", "female", "females", "lady", "ladies", "ladies'",
              "wife", "girlfriend", "mother", "mom", "mum", "mommy", "sister", "grandmother", "grandma",
              "aunt", "her", "fiancee", "feminine", "gal", "wmen", "womn", "wommen", "wemen", "womans",
              "woman's", "womens'", "ladys", "lady's", "mama", "mummy", "granny"],
    "Unisex": ["unisex", "gender neutral"],
    "Boys": [["boy", "Boys", "Kids"], ["boys", "Boys", "Kids"], ["son", "Boys", "Kids"],
             ["nephew", "Boys", "Kids"], ["boy's", "Boys", "Kids"]],
    "Girls": [["girl", "Girls", "Kids"], ["girls", "Girls", "Kids"], ["daughter", "Girls", "Kids"],
              ["niece", "Girls", "Kids"], ["girl's", "Girls", "Kids"]],
    "Kids": [["kids", "Kids", "Boys", "Girls"], ["kid", "Kids", "Boys", "Girls"],
             ["children", "Kids", "Boys", "Girls"], ["child", "Kids", "Boys", "Girls"],
             ["kid's", "Kids", "Boys", "Girls"],
             ["toddler", "Kids", "Boys", "Girls"], ["baby", "Kids", "Boys", "Girls"],
             ["children's", "Kids", "Boys", "Girls"], ["kids'", "Kids", "Boys", "Girls"]],
}

USAGE_SYNONYMS: dict[str, list[str]] = {
    "Casual": ["casual", "casuals", "everyday", "daily wear", "weekend", "relaxed"],
    "Formal": ["formal", "office", "work", "business", "officewear", "office wear", "interview",
               "workwear"],
    "Sports": ["sports", "sport", "gym", "running", "workout", "training", "athletic", "jogging",
               "fitness", "yoga", "activewear"],
    "Ethnic": ["ethnic", "traditional", "festive", "indian", "wedding", "diwali"],
    "Smart Casual": ["smart casual", "smart-casual", "semi formal", "semi-formal"],
    "Travel": ["travel", "travelling", "traveling", "trip"],
    "Party": ["party", "partywear", "party wear", "evening", "night out", "clubbing"],
}

# Broad words that name a family of products rather than one type.
CATEGORY_SYNONYMS: dict[str, dict[str, list[str]]] = {
    "sub_category": {
        "Shoes": ["shoes", "shoe", "footwear shoes"],
        "Bags": ["bag", "bags"],
        "Eyewear": ["eyewear", "glasses", "spectacles", "eyeglasses"],
        "Jewellery": ["jewellery", "jewelry"],
        "Innerwear": ["innerwear", "lingerie", "intimates"],
        "Topwear": ["topwear", "upper wear"],
        "Bottomwear": ["bottomwear", "bottoms", "lowers"],
        "Headwear": ["headwear"],
        "Fragrance": ["fragrances"],
        "Loungewear and Nightwear": ["nightwear", "loungewear", "sleepwear", "nightsuit"],
    },
    "master_category": {
        "Footwear": ["footwear"],
        "Apparel": ["clothes", "clothing", "apparel", "outfit", "outfits", "garments"],
        "Accessories": ["accessories", "accessory"],
        "Personal Care": ["personal care", "grooming"],
    },
}

# Brand names that are also common English words: matched only when typed with a capital letter.
COMMON_WORD_BRANDS = {
    "w", "basics", "genesis", "catwalk", "arrow", "lee", "mother earth", "solid", "turtle", "united",
    "guess", "elle", "free", "high", "kiwi", "status quo", "true blue", "gas", "converse", "vans",
    "classic", "fame forever", "presto", "spice", "ant", "lotto", "nautica", "timex", "global desi",
    "and", "mr.", "mr", "only", "style", "fashion", "home",
}

# Everyday words a typo-tolerant match must leave alone ("write" is not a misspelt "white",
# "clear" not "cleat", "howdy" not "hoody"): what shoppers type in a chat besides products.
COMMON_WORDS = set("""
about above after again agree alright already also always another answer anyone anything around
asked awesome before begin being below better between bring brought cannot change cheers choose
clear close color colour compare cool could course daily dear delete detail details didn't differ
does doesn't doing don't during each either else enough every exactly except fine first found
friend funny great guess happy hello hey there help here howdy ideas items just kind later least
like little looks lovely maybe means might minute money month more most much music never night
nothing number offer often okay order other please point price prices quick quite rather really
reset right same search second seems sorry start stop store sure thank thanks their them then
there these thing things think third those three thumbs today tonight totally under until usual
value very wait want watch weather where which while white whole whose why with would write wrong
years yes yours hiya hello howdy reply replies write written quite quiet weird world tells
stock party times timer ticket tickets stuff story video games game movie movies phone laptop
weekend holiday travel beach summer winter spring autumn office school college wedding birthday
christmas gifts present dinner lunch breakfast coffee water pizza funny jokes joke weather
people person child family house apple sport sports match football soccer cricket tennis music
prize points stars state finish ready tired hungry later sooner check cheque cheap cheaper
""".split())

# Extra spoken forms of brand names.
BRAND_SYNONYMS: dict[str, list[str]] = {
    "United Colors of Benetton": ["benetton", "ucb", "united colours of benetton"],
    "U.S. Polo Assn.": ["us polo", "u.s. polo", "us polo assn", "us polo association", "uspa"],
    "ADIDAS": ["adidas"],
    "ADIDAS Originals": ["adidas originals"],
    "Levis": ["levi's", "levi", "levis"],
    "Tommy Hilfiger": ["tommy", "hilfiger"],
    "Reebok": ["reebok", "rebok"],
}
