#!/usr/bin/env python3
"""Vendor the seven regression datasets under data/ (one-time provenance script).

This script documents exactly how data/*.csv.gz were produced. The project
never runs it; the generated files are committed. It uses only the Python
standard library (3.8+).

Sources (all fetched through package registries, nothing else):

  * crates.io  linfa-datasets 0.8.1  -> diabetes.csv.gz, winequality-red.csv.gz
  * crates.io  smartcore 0.7.0       -> boston.csv.gz   (src/dataset/boston.xy; one
                                        corrupted cell restored, see boston())
  * PyPI       palmerpenguins 0.1.6  -> penguins.csv.gz (palmerpenguins/data/penguins.csv)
  * PyPI       vega_datasets 0.9.0   -> auto-mpg.csv.gz (vega_datasets/_data/cars.json,
                                        bundled in the wheel; no download)
  * PyPI       ISLP 0.4.0            -> bikeshare.csv.gz (ISLP/data/Bikeshare.csv)
  * PyPI       linearmodels 7.1      -> meps.csv.gz     (linearmodels/datasets/meps/meps.csv.bz2;
                                        any platform's wheel, the member's sha256 is checked)

How to re-run:

  1. Fetch the crates into ~/.cargo/registry/src with a scratch cargo project:

       mkdir -p /tmp/vend/fetch/src && cd /tmp/vend/fetch
       cat > Cargo.toml <<'EOF'
       [package]
       name = "vendfetch"
       version = "0.0.0"
       edition = "2021"
       [dependencies]
       linfa-datasets = { version = "=0.8.1", features = ["diabetes", "winequality"] }
       smartcore = { version = "=0.7.0", features = ["datasets"] }
       EOF
       echo 'fn main() {}' > src/main.rs
       cargo fetch

  2. Download the wheels (not installed; the script reads them as zip files):

       pip download --no-deps palmerpenguins==0.1.6 vega_datasets==0.9.0 ISLP==0.4.0 -d /tmp/vend/pipdl
       pip download --no-deps --only-binary=:all: --platform manylinux2014_x86_64 \\
           --python-version 3.11 linearmodels==7.1 -d /tmp/vend/pipdl

     (linearmodels ships only platform wheels; the flags fix which one, but any
     linearmodels-7.1-*.whl will do: the script finds it by that pattern and
     checks the sha256 of the data member.)

  3. Run from the repository root:

       python3 scripts/vendor-data.py --wheels /tmp/vend/pipdl

     --linfa DIR / --smartcore DIR override the crate source directories; by
     default they are discovered as ~/.cargo/registry/src/*/<crate>-<version>.
     --out DIR overrides the output folder (default: data/ next to scripts/).

Output format (every file): UTF-8 CSV, '\\n' line endings, a header of unique
lowercase snake_case names, no quotes, no index column, every cell a plain
decimal number (no exponent, no NaN, no empty cells), target in the LAST
column. Integral values are written without a decimal point ("24", not
"24.0"). f64 sources are written as the shortest decimal that round-trips the
f64 (Python repr); the f32 source (smartcore boston.xy) as the shortest decimal
that round-trips the f32. Files are gzip-compressed deterministically (level 9,
mtime=0, empty embedded file name), so re-running gives byte-identical output
with the same zlib. The script prints the sha256 of every input and output;
data/SHA256SUMS is rewritten.
"""

import argparse
import bz2
import csv
import glob
import gzip
import hashlib
import io
import json
import math
import os
import struct
import sys
import zipfile
from decimal import Decimal

LINFA = "linfa-datasets-0.8.1"
SMARTCORE = "smartcore-0.7.0"
PENGUINS_WHEEL = "palmerpenguins-0.1.6-py3-none-any.whl"
VEGA_WHEEL = "vega_datasets-0.9.0-py3-none-any.whl"
ISLP_WHEEL = "ISLP-0.4.0-py3-none-any.whl"
LINEARMODELS_WHEEL_GLOB = "linearmodels-7.1-*.whl"
# sha256 of the data members (the same file is in ISLP 0.6.0; for linearmodels the
# wheel is platform-specific, so the member, not the wheel, is pinned).
BIKESHARE_SHA256 = "ac6950ae6f11efcc69c29d6bb13e8881c001e27d36434660d59444a1414f712c"
MEPS_SHA256 = "a1af80a64117e07b7bdd909893cf15ac688f03e010f3571562618a421e22d62a"


# ----------------------------------------------------------------- formatting


def _positional(s):
    """Turn a decimal string (maybe with exponent) into plain positional form."""
    d = Decimal(s)
    if d == d.to_integral_value():
        return str(int(d))
    out = format(d, "f")
    if "." in out:
        out = out.rstrip("0").rstrip(".")
    return out


def fmt64(x):
    """Shortest decimal that round-trips the f64 `x`, positional notation."""
    x = float(x)
    if not math.isfinite(x):
        raise ValueError("non-finite value %r" % x)
    if x == 0:
        return "0"
    s = _positional(repr(x))
    assert float(s) == x, (s, x)
    return s


def _to_f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def fmt32(x):
    """Shortest decimal that round-trips the f32 `x` (given exactly as a Python float)."""
    if not math.isfinite(x):
        raise ValueError("non-finite value %r" % x)
    assert _to_f32(x) == x, "not an f32 value"
    if x == 0:
        return "0"
    for p in range(1, 10):  # 9 significant digits always suffice for f32
        s = "%.*g" % (p, x)
        if _to_f32(float(s)) == x:
            out = _positional(s)
            assert _to_f32(float(out)) == x
            return out
    raise AssertionError("unreachable")


def num(s):
    """Parse a source text cell into a finite float."""
    x = float(s)
    if not math.isfinite(x):
        raise ValueError("non-finite cell %r" % s)
    return x


# --------------------------------------------------------------------- output


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def write_dataset(out_dir, name, header, rows, sums):
    assert len(set(header)) == len(header), header
    for h in header:
        assert h == h.lower() and h.replace("_", "").isalnum() and h[0].isalpha(), h
    lines = [",".join(header)]
    for r in rows:
        assert len(r) == len(header), (name, r)
        for c in r:
            assert c and all(ch in "-.0123456789" for ch in c), (name, c)
        lines.append(",".join(r))
    text = ("\n".join(lines) + "\n").encode("utf-8")
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(text)
    blob = buf.getvalue()
    path = os.path.join(out_dir, name)
    with open(path, "wb") as f:
        f.write(blob)
    sums[name] = sha256(blob)
    print("%-24s %4d rows x %2d cols  csv sha256 %s" % (name, len(rows), len(header), sha256(text)))
    print("%-24s first row: %s" % ("", lines[1]))
    print("%-24s gz  sha256 %s" % ("", sums[name]))


def read_input(path):
    with open(path, "rb") as f:
        b = f.read()
    print("input %s sha256 %s" % (path, sha256(b)))
    return b


def read_wheel_member(wheel, member):
    b = read_input(wheel)
    with zipfile.ZipFile(io.BytesIO(b)) as z:
        data = z.read(member)
    print("  member %s sha256 %s" % (member, sha256(data)))
    return data


# ------------------------------------------------------------------- datasets


def diabetes(linfa_dir):
    # linfa's loader passes has_headers=true, but these files have NO header,
    # so linfa::diabetes() silently drops the first patient. We keep all 442.
    def load(fname):
        raw = gzip.decompress(read_input(os.path.join(linfa_dir, "data", fname))).decode("ascii")
        return [[num(c) for c in line.split(",")] for line in raw.splitlines() if line.strip()]

    x = load("diabetes_data.csv.gz")
    y = load("diabetes_target.csv.gz")
    assert len(x) == 442 and len(y) == 442, (len(x), len(y))
    assert all(len(r) == 10 for r in x) and all(len(r) == 1 for r in y)
    assert y[0][0] == 151.0 and y[1][0] == 75.0
    header = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6", "progression"]
    rows = [[fmt64(v) for v in xr] + [fmt64(yr[0])] for xr, yr in zip(x, y)]
    return header, rows


def winequality(linfa_dir):
    raw = gzip.decompress(read_input(os.path.join(linfa_dir, "data", "winequality-red.csv.gz")))
    rdr = csv.reader(io.StringIO(raw.decode("ascii")))
    src_header = next(rdr)
    expected = ["fixed acidity", "volatile acidity", "citric acid", "residual sugar", "chlorides",
                "free sulfur dioxide", "total sulfur dioxide", "density", "pH", "sulphates",
                "alcohol", "quality"]
    assert src_header == expected, src_header
    header = [h.lower().replace(" ", "_") for h in src_header]
    rows = [[fmt64(num(c)) for c in r] for r in rdr if r]
    assert len(rows) == 1599, len(rows)
    return header, rows


def boston(smartcore_dir):
    # smartcore serialize_data layout: u64 LE num_features, u64 LE num_samples,
    # then num_samples*num_features f32 LE (row-major x), then num_samples f32 LE (y).
    b = read_input(os.path.join(smartcore_dir, "src", "dataset", "boston.xy"))
    nf, ns = struct.unpack_from("<QQ", b, 0)
    assert (nf, ns) == (13, 506), (nf, ns)
    assert len(b) == 16 + 4 * ns * (nf + 1), len(b)
    x = struct.unpack_from("<%df" % (ns * nf), b, 16)
    y = struct.unpack_from("<%df" % ns, b, 16 + 4 * ns * nf)
    rows = []
    for i in range(ns):
        rows.append([fmt32(v) for v in x[i * nf:(i + 1) * nf]] + [fmt32(y[i])])
    # DATA FIX: smartcore's boston.xy has one corrupted cell: the last record's
    # LSTAT is 7.8, but the original StatLib file (lib.stat.cmu.edu/datasets/boston)
    # and scikit-learn 1.1.3's boston_house_prices.csv both have 7.88. Every other
    # one of the 7084 cells matches scikit-learn 1.1.3 exactly (checked by
    # comparing as f32). We restore 7.88.
    assert rows[505][12] == "7.8", rows[505]
    assert rows[505] == ["0.04741", "0", "11.93", "0", "0.573", "6.03", "80.8", "2.505", "1",
                         "273", "21", "396.9", "7.8", "11.9"], rows[505]
    rows[505][12] = fmt32(_to_f32(7.88))
    assert [r[-1] for r in rows[:3]] == ["24", "21.6", "34.7"], [r[-1] for r in rows[:3]]
    # Row-major check against the well-known first record of the original data.
    assert rows[0] == ["0.00632", "18", "2.31", "0", "0.538", "6.575", "65.2", "4.09", "1",
                       "296", "15.3", "396.9", "4.98", "24"], rows[0]
    header = ["crim", "zn", "indus", "chas", "nox", "rm", "age", "dis", "rad", "tax",
              "ptratio", "b", "lstat", "medv"]
    return header, rows


def penguins(wheel_dir):
    data = read_wheel_member(os.path.join(wheel_dir, PENGUINS_WHEEL), "palmerpenguins/data/penguins.csv")
    src = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    assert len(src) == 344, len(src)
    used = ["species", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm",
            "body_mass_g", "sex", "year"]
    header = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "year",
              "species_chinstrap", "species_gentoo", "island_dream", "island_torgersen",
              "sex_male", "body_mass_g"]
    rows = []
    for r in src:
        if any(r[k] in ("", "NA") for k in used):
            continue
        assert r["species"] in ("Adelie", "Chinstrap", "Gentoo"), r
        assert r["island"] in ("Biscoe", "Dream", "Torgersen"), r
        assert r["sex"] in ("female", "male"), r
        d = lambda cond: "1" if cond else "0"  # noqa: E731
        rows.append([fmt64(num(r["bill_length_mm"])), fmt64(num(r["bill_depth_mm"])),
                     fmt64(num(r["flipper_length_mm"])), fmt64(num(r["year"])),
                     d(r["species"] == "Chinstrap"), d(r["species"] == "Gentoo"),
                     d(r["island"] == "Dream"), d(r["island"] == "Torgersen"),
                     d(r["sex"] == "male"), fmt64(num(r["body_mass_g"]))])
    print("penguins: %d of %d rows kept after dropping missing values" % (len(rows), len(src)))
    return header, rows


def auto_mpg(wheel_dir):
    data = read_wheel_member(os.path.join(wheel_dir, VEGA_WHEEL), "vega_datasets/_data/cars.json")
    src = json.loads(data.decode("utf-8"))
    assert len(src) == 406, len(src)
    used = ["Miles_per_Gallon", "Cylinders", "Displacement", "Horsepower", "Weight_in_lbs",
            "Acceleration", "Year", "Origin"]
    header = ["cylinders", "displacement", "horsepower", "weight", "acceleration", "year",
              "origin_europe", "origin_japan", "mpg"]
    rows = []
    for r in src:
        if any(r.get(k) is None for k in used):
            continue
        assert r["Origin"] in ("USA", "Europe", "Japan"), r
        year = r["Year"]
        assert len(year) == 10 and year.endswith("-01-01"), year
        d = lambda cond: "1" if cond else "0"  # noqa: E731
        rows.append([fmt64(r["Cylinders"]), fmt64(r["Displacement"]), fmt64(r["Horsepower"]),
                     fmt64(r["Weight_in_lbs"]), fmt64(r["Acceleration"]), str(int(year[:4])),
                     d(r["Origin"] == "Europe"), d(r["Origin"] == "Japan"),
                     fmt64(r["Miles_per_Gallon"])])
    print("auto-mpg: %d of %d rows kept after dropping nulls" % (len(rows), len(src)))
    assert len(rows) == 392, len(rows)
    return header, rows


def bikeshare(wheel_dir):
    data = read_wheel_member(os.path.join(wheel_dir, ISLP_WHEEL), "ISLP/data/Bikeshare.csv")
    assert sha256(data) == BIKESHARE_SHA256, sha256(data)
    src = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    assert len(src) == 8645, len(src)
    assert list(src[0]) == ["season", "mnth", "day", "hr", "holiday", "weekday", "workingday",
                            "weathersit", "temp", "atemp", "hum", "windspeed", "casual",
                            "registered", "bikers"], list(src[0])
    # ISLP (like the R package ISLR2) holds the 2011 half of the UCI hourly file, with
    # month and weather situation as text labels; we map them back to the UCI integer codes.
    months = {"Jan": 1, "Feb": 2, "March": 3, "April": 4, "May": 5, "June": 6, "July": 7,
              "Aug": 8, "Sept": 9, "Oct": 10, "Nov": 11, "Dec": 12}
    weather = {"clear": 1, "cloudy/misty": 2, "light rain/snow": 3, "heavy rain/snow": 4}
    # Dropped: `day` (day of the year 1-365, a time index that also carries the system's
    # growth over 2011) and `casual`, `registered` (they add up to the target `bikers`).
    used = ["season", "mnth", "hr", "holiday", "weekday", "workingday", "weathersit", "temp",
            "atemp", "hum", "windspeed", "bikers"]
    header = list(used)
    rows = []
    for r in src:
        assert int(r["casual"]) + int(r["registered"]) == int(r["bikers"]), r
        if any(r[k] in ("", "NA") for k in used):
            continue
        season, hr, weekday = int(r["season"]), int(r["hr"]), int(r["weekday"])
        assert 1 <= season <= 4 and 0 <= hr <= 23 and 0 <= weekday <= 6, r
        assert r["holiday"] in ("0", "1") and r["workingday"] in ("0", "1"), r
        rows.append([str(season), str(months[r["mnth"]]), str(hr), r["holiday"], str(weekday),
                     r["workingday"], str(weather[r["weathersit"]]), fmt64(num(r["temp"])),
                     fmt64(num(r["atemp"])), fmt64(num(r["hum"])), fmt64(num(r["windspeed"])),
                     fmt64(num(r["bikers"]))])
    print("bikeshare: %d of %d rows kept after dropping missing values" % (len(rows), len(src)))
    assert len(rows) == 8645, len(rows)
    assert rows[0] == ["1", "1", "0", "0", "6", "0", "1", "0.24", "0.2879", "0.81", "0", "16"], rows[0]
    return header, rows


def meps(wheel_dir):
    hits = sorted(glob.glob(os.path.join(wheel_dir, LINEARMODELS_WHEEL_GLOB)))
    if len(hits) != 1:
        sys.exit("need exactly one %s in %s, found %d" % (LINEARMODELS_WHEEL_GLOB, wheel_dir, len(hits)))
    packed = read_wheel_member(hits[0], "linearmodels/datasets/meps/meps.csv.bz2")
    assert sha256(packed) == MEPS_SHA256, sha256(packed)
    data = bz2.decompress(packed)
    print("  decompressed sha256 %s" % sha256(data))
    src = list(csv.DictReader(io.StringIO(data.decode("ascii"))))  # CRLF line endings
    assert len(src) == 10391, len(src)
    assert list(src[0]) == ["ssiratio", "age", "educyr", "drugexp", "private", "female", "hisp",
                            "marry", "vegood", "good", "fair", "poor", "poverty", "lowincome",
                            "midincome", "msa", "firmsz", "multlc", "income", "priolist", "totchr",
                            "black", "hi_empunion", "ldrugexp", "age2", "linc", "vgh", "fph",
                            "blhisp"], list(src[0])
    # Dropped: `drugexp` (the target before the log), and columns that are functions of
    # kept ones: age2 = age^2, linc = ln(income) (empty where income <= 0), vgh = vegood or
    # good, fph = fair or poor, blhisp = black or hisp. Each relation is checked below.
    header = ["ssiratio", "age", "educyr", "private", "female", "hisp", "marry", "vegood", "good",
              "fair", "poor", "poverty", "lowincome", "midincome", "msa", "firmsz", "multlc",
              "income", "priolist", "totchr", "black", "hi_empunion", "ldrugexp"]
    rows = []
    for r in src:
        if any(r[k] in ("", "NA", "nan") for k in header):
            continue
        v = {k: num(x) for k, x in r.items() if x != ""}
        assert v["age2"] == v["age"] ** 2, r
        assert v["vgh"] == max(v["vegood"], v["good"]) and v["fph"] == max(v["fair"], v["poor"]), r
        assert v["blhisp"] == max(v["black"], v["hisp"]), r
        assert abs(math.log(v["drugexp"]) - v["ldrugexp"]) < 1e-6, r
        if v["income"] > 0:
            assert abs(math.log(v["income"]) - v["linc"]) < 1e-6, r
        else:
            assert r["linc"] == "", r
        rows.append([fmt64(v[k]) for k in header])
    print("meps: %d of %d rows kept after dropping missing values" % (len(rows), len(src)))
    assert len(rows) == 10391, len(rows)
    return header, rows


# ----------------------------------------------------------------------- main


def find_crate(name):
    hits = sorted(glob.glob(os.path.expanduser("~/.cargo/registry/src/*/" + name)))
    if not hits:
        sys.exit("cannot find %s under ~/.cargo/registry/src; run `cargo fetch` first" % name)
    return hits[0]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--linfa", help="linfa-datasets-0.8.1 source dir")
    ap.add_argument("--smartcore", help="smartcore-0.7.0 source dir")
    ap.add_argument("--wheels", required=True, help="dir holding the four downloaded wheels")
    ap.add_argument("--out", default=os.path.join(here, os.pardir, "data"))
    a = ap.parse_args()
    linfa_dir = a.linfa or find_crate(LINFA)
    smartcore_dir = a.smartcore or find_crate(SMARTCORE)
    out_dir = os.path.normpath(a.out)
    os.makedirs(out_dir, exist_ok=True)

    sums = {}
    for name, build in [("diabetes.csv.gz", lambda: diabetes(linfa_dir)),
                        ("winequality-red.csv.gz", lambda: winequality(linfa_dir)),
                        ("boston.csv.gz", lambda: boston(smartcore_dir)),
                        ("penguins.csv.gz", lambda: penguins(a.wheels)),
                        ("auto-mpg.csv.gz", lambda: auto_mpg(a.wheels)),
                        ("bikeshare.csv.gz", lambda: bikeshare(a.wheels)),
                        ("meps.csv.gz", lambda: meps(a.wheels))]:
        header, rows = build()
        write_dataset(out_dir, name, header, rows, sums)

    with open(os.path.join(out_dir, "SHA256SUMS"), "w", newline="\n") as f:
        for name in sorted(sums):
            f.write("%s  %s\n" % (sums[name], name))


if __name__ == "__main__":
    main()
