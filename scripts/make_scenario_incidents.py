"""Author the built-in Idlib 2020 scenario's incident and displacement tables.

ILLUSTRATIVE: events reconstructed from the press reporting summarised in ../shared/SCENARIO.md, placed
at OCHA populated-place positions (lon, lat as OCHA gives them), in ACLED's export layout.  They are not
ACLED data and not a record of what happened: counts, times and fatalities beyond those the reporting
states are the project's assumptions.

    python scripts/make_scenario_incidents.py   # rewrites geoconflict/scenarios/idlib-2020/*.csv
"""

from __future__ import annotations

import csv
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "geoconflict" / "scenarios" / "idlib-2020"
SOURCE = "Illustrative reconstruction from press reporting (geoconflict built-in scenario); not ACLED data"

from geoconflict.incidents import ACLED_COLUMNS as _ACLED_COLUMNS  # noqa: E402

ACLED_COLUMNS = list(_ACLED_COLUMNS)

# name: (OCHA P-code, lon, lat, admin1, admin2, admin3) at OCHA positions
P = {
    "Idleb": ("", 36.6339, 35.9306, "Idleb", "Idleb", "Idleb"),
    "Ariha": ("C4278", 36.6103, 35.8141, "Idleb", "Ariha", "Ariha"),
    "Ma'arrat An Nu'man": ("C3985", 36.6767, 35.6477, "Idleb", "Al Ma'ra", "Ma'arrat An Nu'man"),
    "Saraqab": ("C3916", 36.8061, 35.8611, "Idleb", "Idleb", "Saraqab"),
    "Jisr-Ash-Shugur": ("C4199", 36.3149, 35.8143, "Idleb", "Jisr-Ash-Shugur", "Jisr-Ash-Shugur"),
    "Kafr Nobol": ("C4068", 36.5603, 35.6147, "Idleb", "Al Ma'ra", "Kafr Nobol"),
    "Khan Shaykun": ("C3987", 36.6505, 35.4437, "Idleb", "Al Ma'ra", "Khan Shaykun"),
    "Sarmin": ("C3953", 36.7239, 35.9037, "Idleb", "Idleb", "Sarmin"),
    "Teftnaz": ("C3932", 36.7833, 35.9977, "Idleb", "Idleb", "Teftnaz"),
    "Nayrab": ("C3867", 36.7183, 35.8691, "Idleb", "Idleb", "Idleb"),
    "Hazano": ("C3944", 36.7137, 36.0899, "Idleb", "Idleb", "Maaret Tamsrin"),
    "Atareb": ("C1022", 36.8285, 36.1379, "Aleppo", "Jebel Saman", "Atareb"),
    "Daret Azza": ("C1139", 36.8511, 36.2851, "Aleppo", "Jebel Saman", "Daret Azza"),
    "Maarzita": ("C4066", 36.5723, 35.5559, "Idleb", "Al Ma'ra", "Kafr Nobol"),
    "Hassaneh": ("C8446", 36.4877, 35.5431, "Idleb", "Al Ma'ra", "Kafr Nobol"),
    "Mhambal": ("C4330", 36.4689, 35.7841, "Idleb", "Ariha", "Mhambal"),
    "Tanjarah": ("C6544", 36.3567, 35.5869, "Hama", "As-Suqaylabiyah", "Madiq Castle"),
    "Fatatra": ("C8450", 36.4049, 35.5895, "Idleb", "Al Ma'ra", "Kafr Nobol"),
    # Jabal al-Zawiya
    "Mozra": ("C4298", 36.4399, 35.6571, "Idleb", "Ariha", "Ehsem"),
    "Kansafra": ("C4309", 36.4849, 35.6599, "Idleb", "Ariha", "Ehsem"),
    "Bara": ("C4304", 36.5419, 35.6853, "Idleb", "Ariha", "Ehsem"),
    "Ein Laruz": ("C4299", 36.4457, 35.6885, "Idleb", "Ariha", "Ehsem"),
    "Balyun": ("C4302", 36.5037, 35.6961, "Idleb", "Ariha", "Ehsem"),
    "Arnaba": ("C4301", 36.4583, 35.7015, "Idleb", "Ariha", "Ehsem"),
    "Marata (Ehsem)": ("C4307", 36.4757, 35.7109, "Idleb", "Ariha", "Ehsem"),
    "Ablin": ("C4292", 36.5331, 35.7159, "Idleb", "Ariha", "Ehsem"),
    "Joseph": ("C4303", 36.4777, 35.7185, "Idleb", "Ariha", "Ehsem"),
    "Abdita": ("C4291", 36.5421, 35.7189, "Idleb", "Ariha", "Ehsem"),
    "Ehsem": ("C4295", 36.5565, 35.7211, "Idleb", "Ariha", "Ehsem"),
    "Farkya": ("C4305", 36.5989, 35.7253, "Idleb", "Ariha", "Ehsem"),
    "Balshun": ("C4296", 36.5361, 35.7267, "Idleb", "Ariha", "Ehsem"),
    "Bsames": ("C4297", 36.5001, 35.7355, "Idleb", "Ariha", "Ehsem"),
    "Maghara": ("C4300", 36.5785, 35.7377, "Idleb", "Ariha", "Ehsem"),
    "Marayan": ("C4308", 36.5615, 35.7433, "Idleb", "Ariha", "Ehsem"),
    "Kafr Haya": ("C4306", 36.5859, 35.7551, "Idleb", "Ariha", "Ehsem"),
    "Rami (Ehsem)": ("C4294", 36.5569, 35.7629, "Idleb", "Ariha", "Ehsem"),
    "Deir Sunbul (Ehsem)": ("C4293", 36.6055, 35.6993, "Idleb", "Ariha", "Ehsem"),
    "Shinan (Ariha)": ("C4275", 36.6101, 35.7377, "Idleb", "Ariha", "Ariha"),
    "Sarja (Ariha)": ("C4273", 36.6269, 35.7575, "Idleb", "Ariha", "Ariha"),
    "Kafr Shalaya": ("C4289", 36.5369, 35.7697, "Idleb", "Ariha", "Ariha"),
    "Orm Eljoz": ("C4269", 36.5671, 35.7913, "Idleb", "Ariha", "Ariha"),
    "Maalali": ("C6611", 36.5825, 35.7659, "Idleb", "Ariha", "Ariha"),
    # northern al-Ghab plain
    "Qastun": ("C3170", 36.3893, 35.6857, "Hama", "As-Suqaylabiyah", "Ziyara"),
    "Hmeimat": ("C4319", 36.4083, 35.6635, "Idleb", "Ariha", "Mhambal"),
    "Shagurit": ("C4311", 36.4201, 35.6829, "Idleb", "Ariha", "Mhambal"),
    "Northern Laj": ("C4316", 36.4285, 35.6983, "Idleb", "Ariha", "Mhambal"),
    "Zayzun (Ziyara)": ("C3161", 36.3777, 35.6999, "Hama", "As-Suqaylabiyah", "Ziyara"),
    "Sahen": ("C4327", 36.4023, 35.7199, "Idleb", "Ariha", "Mhambal"),
    "Jadraya": ("C4320", 36.4301, 35.7261, "Idleb", "Ariha", "Mhambal"),
    "Anb": ("C4323", 36.4449, 35.7323, "Idleb", "Ariha", "Mhambal"),
    "Sararif": ("C4315", 36.4001, 35.7367, "Idleb", "Ariha", "Mhambal"),
    "Matleh Ariha": ("C4317", 36.4211, 35.7383, "Idleb", "Ariha", "Mhambal"),
    "Qrsaya": ("C6615", 36.4581, 35.7425, "Idleb", "Ariha", "Mhambal"),
    "Tal Awar": ("C4217", 36.3857, 35.7371, "Idleb", "Jisr-Ash-Shugur", "Jisr-Ash-Shugur"),
    "Ziyara": ("C3166", 36.3381, 35.6895, "Hama", "As-Suqaylabiyah", "Ziyara"),
    "Al-Hamidiah": ("C6548", 36.3885, 35.6547, "Hama", "As-Suqaylabiyah", "Ziyara"),
}

RU = "Military Forces of Russia (2000-)"
SY = "Military Forces of Syria (2000-)"
HTS = "HTS: Hayat Tahrir al-Sham"
CIV = "Civilians (Syria)"
AIR, SHELL = "Air/drone strike", "Shelling/artillery/missile attack"

rows: list[dict[str, object]] = []


def ev(date: str, place: str, sub: str, actor1: str, actor2: str, notes: str, *, fatalities: int = 0,
       time_precision: int = 1, geo_precision: int = 1, event_type: str = "Explosions/Remote violence",
       assoc1: str = "", ev_id: str | None = None) -> None:
    pcode, lon, lat, a1, a2, a3 = P[place]
    n = len(rows) + 1
    rows.append({
        "event_id_cnty": ev_id or f"SYR9{n:05d}", "event_date": date, "year": date[:4],
        "time_precision": time_precision, "disorder_type": "Political violence",
        "event_type": event_type, "sub_event_type": sub, "actor1": actor1, "assoc_actor_1": assoc1,
        "inter1": 8 if actor1 == RU else (1 if actor1 == SY else 2), "actor2": actor2, "assoc_actor_2": "",
        "inter2": 7 if actor2 == CIV else 2, "interaction": "", "civilian_targeting":
        "Civilian targeting" if actor2 == CIV else "", "iso": 760, "region": "Middle East",
        "country": "Syria", "admin1": a1, "admin2": a2, "admin3": a3, "location": place,
        "latitude": lat, "longitude": lon, "geo_precision": geo_precision, "source": SOURCE,
        "source_scale": "Illustrative", "notes": notes, "fatalities": fatalities, "tags": "",
        "timestamp": 1600000000,
    })


def build() -> None:
    # 2019: the offensive on northern Hama and southern Idlib
    ev("2019-08-12", "Khan Shaykun", AIR, RU, HTS, "Russian warplanes struck Khan Shaykun ahead of the government advance.", fatalities=3)
    ev("2019-08-19", "Khan Shaykun", SHELL, SY, HTS, "Regime artillery shelled the town's northern outskirts.")
    ev("2019-12-21", "Ma'arrat An Nu'man", AIR, RU, CIV, "Airstrikes on the city's market area; families fled north.", fatalities=5)
    ev("2020-01-15", "Idleb", AIR, RU, CIV, "Airstrike on an industrial area and market of Idleb city.", fatalities=19)
    ev("20 January 2020", "Maarzita", SHELL, SY, HTS, "Shelling on the village of Maarzita, south of Kafr Nobol.")
    # February 2020: the push up the M5 and into Jabal al-Zawiya (dates in ACLED's three formats)
    feb = [
        ("2020-02-01", "Saraqab", AIR, RU, CIV, 4), ("2020-02-03", "Nayrab", SHELL, SY, HTS, 0),
        ("2020-02-04", "Sarmin", AIR, RU, CIV, 2), ("05 February 2020", "Ariha", AIR, RU, CIV, 6),
        ("2020-02-07", "Teftnaz", SHELL, SY, HTS, 0), ("09-02-2020", "Atareb", AIR, RU, CIV, 3),
        ("2020-02-11", "Hazano", AIR, RU, CIV, 1), ("2020-02-12", "Daret Azza", SHELL, SY, HTS, 0),
        ("2020-02-14", "Kafr Nobol", AIR, RU, CIV, 2), ("2020-02-17", "Ariha", SHELL, SY, CIV, 1),
        ("2020-02-18", "Hassaneh", SHELL, SY, HTS, 0), ("2020-02-19", "Bara", AIR, RU, CIV, 0),
        ("2020-02-21", "Kansafra", AIR, RU, CIV, 1), ("2020-02-22", "Mhambal", AIR, RU, CIV, 0),
        ("2020-02-24", "Kafr Nobol", SHELL, SY, HTS, 0), ("2020-02-25", "Ehsem", AIR, RU, CIV, 2),
        ("2020-02-26", "Idleb", AIR, RU, CIV, 5), ("2020-02-27", "Saraqab", AIR, RU, HTS, 0),
        ("2020-02-28", "Jisr-Ash-Shugur", AIR, RU, CIV, 1), ("2020-02-29", "Sarmin", SHELL, SY, CIV, 0),
        ("2020-03-01", "Ariha", AIR, RU, CIV, 3), ("2020-03-02", "Saraqab", SHELL, SY, HTS, 0),
        ("2020-03-03", "Balyun", AIR, RU, CIV, 0), ("2020-03-04", "Mozra", SHELL, SY, CIV, 0),
        ("2020-03-05", "Ariha", AIR, RU, CIV, 15), ("2020-03-05", "Bara", SHELL, SY, CIV, 0),
    ]
    for date, place, sub, a1, a2, fat in feb:
        ev(date, place, sub, a1, a2, f"{sub} on {place} during the offensive before the 5 March agreement.", fatalities=fat)
    ev("2020-03-05T23:40", "Nayrab", SHELL, SY, HTS, "Shelling 21 minutes before the ceasefire took force at 00:01 on 6 March.")
    # imprecise and coarsely dated rows, as real exports have them
    ev("2020-02-20", "Idleb", AIR, RU, CIV, "Strikes reported 'in Idleb province'; placed at the provincial capital.", geo_precision=3)
    ev("2020-02-15", "Sarmin", SHELL, SY, CIV, "Shelling reported during February without a day.", time_precision=3)
    ev("2020-03-04", "Kansafra", SHELL, SY, CIV, "Shelling 'in the first week of March': the week straddles the ceasefire.", time_precision=2)
    # the lull: protests and a clash, no strikes
    ev("2020-04-10", "Idleb", "Peaceful protest", "Protesters (Syria)", "", "Demonstration against the joint patrols on the M4.", event_type="Protests")
    ev("2020-05-05", "Tanjarah", "Armed clash", HTS, SY, "Exchange of fire on the al-Ghab front line.", event_type="Battles")
    # Wednesday 3 June: the first Russian strikes since early March, on the al-Ghab plain
    for t, place in [("09:10", "Zayzun (Ziyara)"), ("09:25", "Sahen"), ("10:05", "Tal Awar"), ("10:40", "Ziyara")]:
        ev(f"2020-06-03T{t}", place, AIR, RU, CIV, "Russian airstrike on the al-Ghab plain, the first since early March; no injuries; hundreds fled north.")
    # Monday 8 June: the chain of attacks on al-Ghab and Jabal al-Zawiya
    ev("2020-06-08T05:30", "Tanjarah", "Armed clash", "Huras al-Din", SY, "Raid by anti-Assad forces (including Huras al-Din) on the village; pro-Assad troops killed.", event_type="Battles", fatalities=9)
    ev("2020-06-08T05:45", "Fatatra", "Armed clash", "Huras al-Din", SY, "Raid on the village; pro-Assad troops and one opposition fighter killed.", event_type="Battles", fatalities=8)
    # 38 distinct locations struck in the 24 hours to the morning of 9 June
    zawiya = ["Mozra", "Kansafra", "Bara", "Ein Laruz", "Balyun", "Arnaba", "Marata (Ehsem)", "Ablin",
              "Joseph", "Abdita", "Ehsem", "Farkya", "Balshun", "Bsames", "Maghara", "Marayan", "Kafr Haya",
              "Rami (Ehsem)", "Deir Sunbul (Ehsem)", "Shinan (Ariha)", "Sarja (Ariha)", "Kafr Shalaya",
              "Orm Eljoz", "Maalali"]
    ghab = ["Qastun", "Hmeimat", "Shagurit", "Northern Laj", "Zayzun (Ziyara)", "Sahen", "Jadraya", "Anb",
            "Sararif", "Matleh Ariha", "Qrsaya", "Tal Awar", "Ziyara", "Al-Hamidiah"]
    assert len(set(zawiya + ghab)) == 38
    minute = 9 * 60 + 20  # from 09:20 on 8 June
    for i, place in enumerate(ghab + zawiya):
        day, hm = (8, minute) if minute < 24 * 60 else (9, minute - 24 * 60)
        stamp = f"2020-06-{day:02d}T{hm // 60:02d}:{hm % 60:02d}"
        if place == "Qastun":
            ev(stamp, place, SHELL, SY, CIV, "Pro-Assad forces shelled Qastun, west of Hama city.")
        elif place == "Mozra":
            ev(stamp, place, AIR, RU, CIV, "Two civilians killed in their home in al-Maourzeh (\"Mozra\"); three wounded (White Helmets).", fatalities=2)
        else:
            ev(stamp, place, AIR if i % 3 else SHELL, RU if i % 3 else SY, CIV,
               f"{'Russian airstrike' if i % 3 else 'Artillery shelling'} on {place}; civilians fled toward the north.")
        minute += 35 if i < 30 else 25
    # a second strike on some villages within the same night (same locations: still 38 distinct)
    for t, place in [("2020-06-08T21:15", "Kansafra"), ("2020-06-09T02:30", "Bara"), ("2020-06-09T06:50", "Mozra")]:
        ev(t, place, AIR, RU, CIV, "Renewed airstrike on the village overnight.")
    # a duplicated row, as exports sometimes carry (same event id): quarantined as duplicate_id
    dup = dict(rows[10])
    rows.append(dup)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    build()
    with open(OUT / "incidents.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=ACLED_COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print(f"{OUT / 'incidents.csv'}: {len(rows)} rows")
    # displacement records: the 5,834 who fled Jabal al-Zawiya (9 June), split across the border camps as
    # an illustrative assumption (50% Dana, 30% Sarmada, 20% Atma)
    with open(OUT / "displacement_june2020.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["date", "origin", "destination", "individuals", "note"])
        for dest, n in [("Dana", 2917), ("Sarmada", 1750), ("Atma", 1167)]:
            w.writerow(["2020-06-09", "Jabal al-Zawiya", dest, n, "illustrative split of the 5,834 reported"])
    # February 2020 (OCHA/HNAP): top origins and arrivals; pairs by an illustrative proportional split
    origins = {"Saraqab": 185364, "Ariha": 139729, "Atareb": 97469}
    dests = {"Dana": 248842, "Salqin": 95268, "Azaz": 80518}
    total = 742109
    other_o = total - sum(origins.values())
    other_d = total - sum(dests.values())
    o_all = {**origins, "Other sub-districts": other_o}
    d_all = {**dests, "Other sub-districts": other_d}
    with open(OUT / "displacement_feb2020_matrix.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["Origin", *d_all, "Grand Total"])
        col_sums = dict.fromkeys(d_all, 0)
        for o, on in o_all.items():
            cells = []
            for d, dn in d_all.items():
                v = round(on * dn / total)
                cells.append(v)
                col_sums[d] += v
            w.writerow([o, *cells, sum(cells)])
        w.writerow(["Grand Total", *col_sums.values(), sum(col_sums.values())])
    print("displacement tables written")


if __name__ == "__main__":
    main()
