{
    "name": "Deployment manager sample (broken)",
    "version": "18.0.1.0.0",
    "summary": "Test addon whose installation fails: a view inherits a missing one",
    "author": "deployment_manager contributors",
    "license": "LGPL-3",
    "depends": ["base"],
    "data": ["data/broken_views.xml"],
    "installable": True,
}
