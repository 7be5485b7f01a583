{
    "name": "Deployment manager sample (tested)",
    "version": "18.0.1.0.0",
    "summary": "Test addon whose own tests deployment_manager runs: one passes, "
    "one fails",
    "author": "deployment_manager contributors",
    "license": "LGPL-3",
    "depends": ["base"],
    "installable": True,
}
