{
    "name": "Deployment manager sample (changes)",
    "version": "18.0.1.0.0",
    "summary": "Test addon whose installation adds a table, a view, a scheduled "
    "action and a mail template: what deployment_manager must report",
    "author": "deployment_manager contributors",
    "license": "LGPL-3",
    "depends": ["mail"],
    "data": [
        "security/ir.model.access.csv",
        "views/dm_sample_change_views.xml",
        "data/dm_sample_change_data.xml",
    ],
    "installable": True,
}
