"""Permission names (SPEC §11), so views, commands and tests spell them once."""

CUSTOMIZE_APPLICATION = "lightningsync.customize_application"
VIEW_SETUP = "lightningsync.view_setup"
MANAGE_EXCHANGE_CONFIGURATIONS = "lightningsync.manage_exchange_configurations"
MANAGE_USERS = "lightningsync.manage_users"
RUN_REPORTS = "lightningsync.run_reports"
VIEW_AUDIT_TRAIL = "lightningsync.view_setupaudittrail"

# What each action needs.
EDIT_SETUP = (CUSTOMIZE_APPLICATION,)
READ_SETUP = (VIEW_SETUP,)
MANAGE_CONFIGURATIONS = (MANAGE_EXCHANGE_CONFIGURATIONS, MANAGE_USERS)
RESET_USERS = (MANAGE_EXCHANGE_CONFIGURATIONS, MANAGE_USERS)
IMPORT_CONFIGURATION = (CUSTOMIZE_APPLICATION, MANAGE_EXCHANGE_CONFIGURATIONS, MANAGE_USERS)
EXPORT_CONFIGURATION = (VIEW_SETUP,)
ERROR_REPORT = (RUN_REPORTS,)
