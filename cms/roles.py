"""The roles staff have in the Wagtail admin, as Django groups created by a data migration.

City roles see all data; partner roles are linked to a partner by PartnerMembership and later issues scope
their views by it. Names are stable identifiers (the group names); labels are translated in the admin.
"""

CITY_ADMINISTRATOR = "City administrator"
CITY_PROGRAMME_OFFICER = "City programme officer"
CITY_ANALYST = "City analyst"
CALL_CENTRE_OPERATOR = "Call-centre operator"
PARTNER_MANAGER = "Partner manager"
PARTNER_INSTRUCTOR = "Partner instructor"

ALL_ROLES = [CITY_ADMINISTRATOR, CITY_PROGRAMME_OFFICER, CITY_ANALYST, CALL_CENTRE_OPERATOR, PARTNER_MANAGER,
             PARTNER_INSTRUCTOR]
