"""OData v4 query options: parsing into plain data. Nothing here knows of SQL or HTTP."""
