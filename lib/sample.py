"""The demo's sample list: 25 people, a few of them with the problems real lists have."""

from __future__ import annotations

import pandas as pd

SAMPLE_NAME = "Sample list (demo)"

_PEOPLE = [
    ("Alice", "Smith", "alice.smith@example.com", "Acme Corp", "Strong fit", "Series B"),
    ("Bruno", "Martins", "bruno.martins@example.com", "Northwind", "Strong fit", "Series A"),
    ("Chloé", "Dubois", "chloe.dubois@example.com", "Lumière SAS", "Good fit", "Seed"),
    ("Dev", "Patel", "dev.patel@example.com", "Quanta Labs", "Strong fit", "Series C"),
    ("Emma", "Johansson", "emma.johansson@example.com", "Fjord AB", "Good fit", "Series A"),
    ("Farah", "Haddad", "farah.haddad@example.com", "Cedar Health", "Strong fit", "Series B"),
    ("George", "O'Neill", "george.oneill@example.com", "Shamrock IO", "Good fit", "Bootstrapped"),
    ("Hana", "Tanaka", "hana.tanaka@example.com", "Sakura Systems", "Strong fit", "Series B"),
    ("Ivan", "Petrov", "ivan.petrov@example.com", "Volga Data", "Weak fit", "Seed"),
    ("Julia", "Rossi", "julia.rossi@example.com", "Vespa Cloud", "Good fit", "Series A"),
    ("Kwame", "Mensah", "kwame.mensah@example.com", "Accra Pay", "Strong fit", "Series B"),
    ("Lena", "Fischer", "lena.fischer@example.com", "Bergwerk GmbH", "Good fit", "Series C"),
    ("Mateo", "García", "mateo.garcia@example.com", "Sol Analytics", "Strong fit", "Series A"),
    ("Nora", "Lindqvist", "nora.lindqvist@example.com", "Aurora Labs", "Good fit", "Seed"),
    ("Omar", "Farouk", "omar.farouk@example.com", "Nile Logistics", "Strong fit", "Series B"),
    ("Priya", "Raman", "priya.raman@example.com", "Indigo AI", "Strong fit", "Series D"),
    ("Quinn", "Baker", "quinn.baker@example.com", "Breadbox", "Good fit", "Seed"),
    ("Rosa", "Silva", "rosa.silva@example.com", "Atlântico", "Good fit", "Series A"),
    ("Sam", "Okafor", "sam.okafor@example.com", "Lagos Labs", "Strong fit", "Series B"),
    ("Tomás", "Novak", "tomas.novak@example.com", "Vltava Tech", "Good fit", "Series A"),
    # The problems real lists have: each gets a clear Send error and is never sent.
    ("", "Nguyen", "linh.nguyen@example.com", "Mekong Apps", "Strong fit", "Series A"),  # missing first name
    ("Victor", "Hugo", "victor.hugo@@example", "Misérables Inc", "Good fit", "Seed"),  # bad email
    ("Alice", "Smith", "Alice.Smith@Example.com ", "Acme Corp", "Strong fit", "Series B"),  # duplicate of row 1
    ("Wen", "Li", "", "Yangtze Data", "Good fit", "Series B"),  # missing email
    ("X", "Æbelø", "x.aebeloe@example.com", "Nordlys", "Weak fit", "Seed"),  # name too short
]


def sample_frame() -> pd.DataFrame:
    rows = [
        {"First Name": f, "Last Name": last, "Email": e, "Company": c, "Fit": fit, "Funding": fund, "Approved": "FALSE"}
        for f, last, e, c, fit, fund in _PEOPLE
    ]
    return pd.DataFrame(rows, dtype=object)
