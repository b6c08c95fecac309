"""Regenerate the Excel fixtures (deterministic): python tests/data/flows/make_xlsx.py

hnap_matrix.xlsx mimics an HNAP monthly workbook: a notes sheet first, then a governorate
origin/destination matrix under two title rows, a merged 'Destination Governorate' cell over the
destination names, a merged corner cell, blank cells, fractional estimates, an 'Unknown' origin row,
a Grand Total column and a Grand Total row whose 'Hama' column total is wrong (stated 900, cells
sum to 950), and a 'Records' sheet of long records under a title row.
"""

from __future__ import annotations

from pathlib import Path

import openpyxl

HERE = Path(__file__).resolve().parent


def main() -> None:
    wb = openpyxl.Workbook()
    notes = wb.active
    notes.title = "Notes"
    notes["A1"] = "Illustrative test workbook (HNAP-style layout); not real figures."
    notes["A2"] = "Counts are movements, not unique persons."

    ws = wb.create_sheet("IDP Movements")
    ws["A1"] = "IDP Movements by Governorate - February 2020"
    ws.merge_cells("A1:G1")
    ws["A2"] = "Sum of IDP movements (individuals)"
    ws["A4"] = "Origin Governorate"
    ws.merge_cells("A4:A5")  # corner label spans both header rows
    ws["B4"] = "Destination Governorate"
    ws.merge_cells("B4:F4")
    ws["G4"] = "Grand Total"
    ws.merge_cells("G4:G5")
    for col, name in zip("BCDEF", ["Aleppo", "Idleb", "Hama", "Lattakia", "Al-Hasakeh"], strict=False):
        ws[f"{col}5"] = name
    rows = [
        ("Aleppo", [5000, 1200, None, None, None]),
        ("Idlib", [80000.5, 150000, 300, 20, None]),
        ("Hamah", [None, 12000, 600, None, None]),
        ("Lattakia", [None, 500, None, 40.25, None]),
        ("Unknown", [None, 333, 50, None, None]),
        ("Hasakah", [None, None, None, None, 10]),
    ]
    r = 6
    for label, cells in rows:
        ws[f"A{r}"] = label
        for col, v in zip("BCDEF", cells, strict=False):
            if v is not None:
                ws[f"{col}{r}"] = v
        ws[f"G{r}"] = sum(v for v in cells if v is not None)
        r += 1
    ws[f"A{r}"] = "Grand Total"
    col_sums = [sum(c[i] for _, c in rows if c[i] is not None) for i in range(5)]
    col_sums[2] = 900  # wrong on purpose: Hama's cells sum to 950
    for col, v in zip("BCDEF", col_sums, strict=False):
        ws[f"{col}{r}"] = v
    ws[f"G{r}"] = sum(sum(v for v in c if v is not None) for _, c in rows)

    rec = wb.create_sheet("Records")
    rec["A1"] = "Displacement records (illustrative)"
    header = ["Date", "Origin Community P-code", "Origin Community", "Destination Community",
              "Individuals", "Families"]
    for i, h in enumerate(header):
        rec.cell(row=3, column=i + 1, value=h)
    data = [
        ("2020-06-09", "C4304", "Bara", "Dana (Dana)", 1200, 240),
        ("2020-06-09", "C4309", "Kansafra", "Sarmada", 800, None),
        ("2020-06-10", None, "Mozra", "Atma", 300, 60),
    ]
    for j, row in enumerate(data):
        for i, v in enumerate(row):
            rec.cell(row=4 + j, column=i + 1, value=v)
    wb.save(HERE / "hnap_matrix.xlsx")


if __name__ == "__main__":
    main()
