// Visma.BusinessServices.Client: the integration user's credentials, applied to a WCF proxy.
using System.ServiceModel.Description;

namespace Visma.BusinessServices.Client
{
    public class Credentials
    {
        readonly string siteId, user, password;

        public Credentials(string siteId, string user, string password)
        {
            this.siteId = siteId;
            this.user = user;
            this.password = password;
        }

        public void Apply(ClientCredentials clientCredentials)
        {
            clientCredentials.UserName.UserName = siteId + "\\" + user;
            clientCredentials.UserName.Password = password;
        }
    }
}
