{
    "name": "Deployment manager sample (good)",
    "version": "18.0.1.0.0",
    "summary": "Test addon deployed by deployment_manager's tests",
    "author": "deployment_manager contributors",
    "license": "LGPL-3",
    "depends": ["base"],
    "data": [
        "security/ir.model.access.csv",
        "data/dm_sample_data.xml",
    ],
    "installable": True,
}
