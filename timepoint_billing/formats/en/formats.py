# Dates as operators read them in the admin's lists and pages: short, sortable,
# unambiguous (the service runs in UTC). The portal writes its dates with explicit
# formats or as relative times.
DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
